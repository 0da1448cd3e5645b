import Foundation
import Forklift
import Testing

@Suite("ForkliftHost: running code, globals, registered Swift functions, errors (no fork)")
struct ForkliftHostTests {
    let host: ForkliftHost
    init() throws { host = try ForkliftHost() }

    @Test func multiprocessingIsBoundToMp() throws {
        #expect(try host.evaluate("type(mp.Pool), mp == require 'multiprocessing'") == ["function", true])
    }

    @Test func runPassesArgumentsAndReturnsResults() throws {
        let r = try host.run("local a, b, c = ...; return a + b, c:upper(), select('#', ...)", arguments: [2, 0.5, "x"])
        #expect(r == [2.5, "X", 3])
    }

    @Test func evaluateTakesExpressionsAndChunks() throws {
        #expect(try host.evaluate("1 + 1, 'a' .. 'b'") == [2, "ab"])
        #expect(try host.evaluate("local x = 20; return x + 1") == [21])
        #expect(try host.evaluate("40 + 2", as: Int.self) == 42)
        let e = #expect(throws: ForkliftError.self) { try host.evaluate("'text'", as: Int.self) }
        #expect(e?.code == .conversion)
    }

    @Test func runFileSetsArgLikeTheCommandLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("embed-\(UUID().uuidString).lua").path
        try "return arg[0], arg[1], #arg, ...".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try host.runFile(path, arguments: ["one", 2])
        #expect(r == [.string(LuaString(path)), "one", 2, "one", 2])
        let missing = #expect(throws: LuaError.self) { try host.runFile(path + ".missing") }
        #expect(missing?.kind == .file)
    }

    @Test func globalsReadAndWrite() throws {
        host[global: "answer"] = 42
        #expect(try host.evaluate("answer") == [42])
        #expect(host[global: "answer"] == 42)
        #expect(host[global: "nothing_here"] == .nil)
    }

    @Test func callByNameSourceAndValue() throws {
        try host.run("function add(a, b) return a + b end")
        #expect(try host.call(.global("add"), 2, 3) == [5])
        #expect(try host.call(.source("function(s) return #s end"), "four", as: Int.self) == 4)
        let f = try host.compile("local k = 10; return function(x) return k * x end")
        #expect(try host.call(.function(f), 4, as: Int.self) == 40)
        let missing = #expect(throws: LuaError.self) { try host.call(.global("no_such_function")) }
        #expect(missing?.message == "no global function 'no_such_function'")
        #expect(throws: LuaError.self) { try host.compile("42") }
    }

    @Test func typedSwiftFunctionsAreCallableFromLua() throws {
        host.register("twice") { (x: Int) in x * 2 }
        host.register("join") { (a: String, b: String) in a + "-" + b }
        host.register("clamp") { (x: Double, lo: Double, hi: Double) in min(max(x, lo), hi) }
        host.register("names") { () in ["ada", "grace"] }
        host.register("maybe") { (x: Int?) in x.map { $0 + 1 } }
        #expect(try host.evaluate("twice(21), join('a', 'b'), clamp(7, 0, 5), #names(), maybe(nil), maybe(1)")
            == [42, "a-b", 5.0, 2, .nil, 2])
    }

    @Test func badArgumentsToSwiftFunctionsRaiseLuaErrors() throws {
        host.register("twice") { (x: Int) in x * 2 }
        let e = #expect(throws: LuaError.self) { try host.run("return twice('x')", chunkName: "=check") }
        #expect(e?.message == "check:1: bad argument #1 to 'twice' (cannot convert string to Int)")
        #expect(e?.traceback?.contains("check:1") == true)
        let caught = try host.evaluate("select(2, pcall(twice, 1.5))")
        #expect(caught == ["bad argument #1 to 'twice' (cannot convert float with a fraction or out of range to Int)"])
    }

    struct Refusal: Error, CustomStringConvertible { var description: String { "refused by Swift" } }

    @Test func swiftErrorsBecomeLuaErrorsThatLuaCanCatch() throws {
        host.register("refuse") { (_: Int) throws -> Int in throw Refusal() }
        #expect(try host.evaluate("pcall(refuse, 1)") == [false, "refused by Swift"])
    }

    @Test func luaErrorsCarryMessageTracebackAndValue() throws {
        try host.run(
            """
            function inner() error({ code = 7 }) end
            function outer() inner() end
            function fails() local x = nil; return x.field end
            """, chunkName: "=lib")
        let table = #expect(throws: LuaError.self) { try host.call(.global("outer")) }
        #expect(table?.kind == .runtime)
        #expect(table?.value == .table(LuaTable(hash: ["code": 7])))
        #expect(table?.traceback?.contains("in function 'inner'") == true)
        #expect(table?.traceback?.contains("in function 'outer'") == true)
        let text = #expect(throws: LuaError.self) { try host.call(.global("fails")) }
        #expect(text?.message == "lib:3: attempt to index a nil value (local 'x')")
        #expect(text?.description.hasPrefix("lib:3: attempt to index a nil value (local 'x')\nstack traceback:") == true)
        let syntax = #expect(throws: LuaError.self) { try host.run("x = = 1") }
        #expect(syntax?.kind == .syntax(incompleteInput: false))
        let incomplete = #expect(throws: LuaError.self) { try host.run("if x then") }
        #expect(incomplete?.kind == .syntax(incompleteInput: true))
    }

    @Test func moduleErrorsClassifyByKind() throws {
        let e = #expect(throws: ForkliftError.self) { try host.evaluate("mp.Pool(0)", as: LuaValue.self) }
        #expect(e?.code == .valueError)
        #expect(e?.message == "Number of processes must be at least 1")
        #expect(e?.luaError?.message == "ValueError: Number of processes must be at least 1")
        let plain = ForkliftError(LuaError(kind: .runtime, message: "boom", traceback: "stack traceback:\n\t[C]: in ?"))
        #expect(plain.code == .lua)
        #expect(plain.description == "LuaError: boom\nstack traceback:\n\t[C]: in ?")
    }

    @Test func remoteErrorTablesKeepTheWorkersTracebackAndIndex() throws {
        // The shape a pool raises for a failed task (built here, no worker needed).
        let r = #expect(throws: LuaError.self) {
            try host.run(
                "error(mp._error('RemoteError', 'w.lua:2: bad', { value = 'w.lua:2: bad', traceback = 'stack traceback:\\n\\tw.lua:2: in function', index = 3 }))")
        }
        let e = ForkliftError(try #require(r))
        #expect(e.code == .remoteError)
        #expect(e.message == "w.lua:2: bad")
        #expect(e.taskIndex == 2)
        #expect(e.value == "w.lua:2: bad")
        #expect(e.traceback == "stack traceback:\n\tw.lua:2: in function")
    }

    @Test func closedHostRefusesWork() throws {
        let other = try ForkliftHost()
        let f = try other.compile("function() end")
        let pool = try? other.makePool(PoolConfiguration(startMethod: .spawn))
        pool?.terminate()
        other.close()
        #expect(other.state.isClosed)
        let e = #expect(throws: LuaError.self) { try other.run("return 1") }
        #expect(e?.message == "the Lua state was closed")
        #expect(throws: LuaError.self) { try other.evaluate("1") }
        #expect(throws: LuaError.self) { try other.call(.function(f)) }
        #expect(throws: LuaError.self) { try other.runFile("/dev/null") }
        #expect(other[global: "mp"] == .nil)
        other[global: "x"] = 1  // ignored, no crash
        other.register("late") { (x: Int) in x }  // ignored, no crash
        let p = #expect(throws: ForkliftError.self) { try other.makePool() }
        #expect(p?.code == .stateError)
        _ = f  // releasing a reference after close must not touch the closed state
    }
}
