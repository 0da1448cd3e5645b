import CLua
import Testing

@testable import Forklift

/// Swift closures registered as Lua functions.
@Suite("Swift closures callable from Lua")
struct SwiftFunctionTests {
    let lua: LuaState

    init() throws {
        lua = try LuaState()
    }

    @Test func closureReceivesArgumentsAndReturnsResults() throws {
        lua.register("describe") { args in
            [.integer(Int64(args.count)), .string(LuaString(args[0].typeName)), args[1], args[5]]
        }
        let results = try lua.run("return describe({1}, 'two', 3)")
        #expect(results == [3, "table", "two", .nil])
    }

    @Test func closureCapturesSwiftState() throws {
        var calls: [Int64] = []
        lua.register("record") { args in
            if case .integer(let n) = args[0] { calls.append(n) }
            return []
        }
        try lua.run("for i = 1, 3 do record(i) end")
        #expect(calls == [1, 2, 3])
    }

    @Test func closureReturningManyValues() throws {
        lua.register("many") { _ in (1...100).map { .integer(Int64($0)) } }
        #expect(try lua.run("return select('#', many()), select(100, many())") == [100, 100])
    }

    @Test func thrownLuaRaiseIsACatchableLuaErrorWithPosition() throws {
        lua.register("fail") { _ in throw LuaRaise("no such thing") }
        let results = try lua.run(
            """
            local ok, err = pcall(fail)
            return ok, err
            """, chunkName: "=caller")
        #expect(results == [false, "no such thing"])
        // Uncaught, it reaches Swift as a runtime error with a traceback through the closure.
        do {
            try lua.run("local x = 1\nfail()", chunkName: "=caller")
            Issue.record("no error")
        } catch {
            #expect(error.kind == .runtime)
            #expect(error.message == "caller:2: no such thing")
            #expect(error.traceback?.contains("in function 'fail'") == true)
        }
    }

    @Test func thrownLuaErrorKeepsItsValue() throws {
        lua.register("rethrow") { _ in
            throw LuaError(kind: .runtime, message: "x", value: .table(LuaTable(hash: ["code": 9])))
        }
        #expect(try lua.run("local ok, e = pcall(rethrow); return ok, e.code") == [false, 9])
    }

    @Test func otherSwiftErrorsBecomeTheirDescription() throws {
        struct Broken: Error, CustomStringConvertible { var description: String { "broken pipe" } }
        lua.register("broken") { _ in throw Broken() }
        let results = try lua.run("return pcall(broken)")
        #expect(results.first == false)
        guard case .string(let message) = results[1] else {
            Issue.record("no message: \(results)")
            return
        }
        #expect(message.description.hasSuffix("broken pipe"))
    }

    @Test func closureCanCallBackIntoLua() throws {
        let host = lua
        lua.register("apply") { args in
            try host.call(args[0], [args[1]])
        }
        #expect(try lua.run("return apply(function(x) return x + 1, 'ok' end, 41)") == [42, "ok"])
        // An error in the callback travels through the closure to the outer pcall.
        let results = try lua.run("return pcall(apply, function() error('deep', 0) end, 1)")
        #expect(results == [false, "deep"])
    }

    @Test func closureIsReleasedWithItsState() throws {
        final class Token {}
        weak var weakToken: Token?
        do {
            let state = try LuaState()
            let token = Token()
            weakToken = token
            state.register("hold") { _ in _ = token; return [] }
            try state.run("hold()")
            state.close()
        }
        #expect(weakToken == nil)
    }

    @Test func manyCallsDoNotGrowTheStack() throws {
        lua.register("add") { args in
            guard case .integer(let a) = args[0], case .integer(let b) = args[1] else { throw LuaRaise("integers") }
            return [.integer(a + b)]
        }
        lua.register("raise") { _ in throw LuaRaise("always") }
        let before = lua.lua.top
        let results = try lua.run(
            """
            local s = 0
            for i = 1, 100000 do s = add(s, 1); pcall(raise) end
            return s
            """)
        #expect(results == [100000])
        #expect(lua.lua.top == before)
    }
}
