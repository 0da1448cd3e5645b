import CLua
import Testing

@testable import Forklift

/// Errors coming out of Lua as typed `LuaError`s.
@Suite("LuaError kinds, messages, tracebacks and values")
struct LuaErrorTests {
    let lua: LuaState

    init() throws {
        lua = try LuaState()
    }

    /// The error `body` throws (nil, recorded as an issue, when it throws none).
    private func error(_ body: () throws(LuaError) -> Void, sourceLocation: SourceLocation = #_sourceLocation)
        -> LuaError?
    {
        do {
            try body()
            Issue.record("no error thrown", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    @Test func syntaxErrorThatNeedsMoreInputIsIncomplete() throws {
        for source in ["x = ", "function f()", "for i = 1, 2 do", "t = {", "s = [[abc"] {
            let e = error { () throws(LuaError) in try lua.load(source, chunkName: "=stdin") }
            #expect(e?.kind == .syntax(incompleteInput: true), "\(source)")
            #expect(e?.message.hasSuffix("<eof>") == true)
            #expect(e?.traceback == nil)
        }
        #expect(lua.lua.top == 0)
    }

    @Test func syntaxErrorThatIsWrongIsComplete() throws {
        let e = error { () throws(LuaError) in try lua.load("x = = 1", chunkName: "=stdin") }
        #expect(e?.kind == .syntax(incompleteInput: false))
        #expect(e?.message == "stdin:1: unexpected symbol near '='")
        #expect(e?.description == "stdin:1: unexpected symbol near '='")
    }

    @Test func runtimeErrorCarriesMessageTracebackAndValue() throws {
        let e = error { () throws(LuaError) in
            try lua.run(
                """
                local function inner() error("boom") end
                local function outer() inner() end
                outer()
                """, chunkName: "=chunk")
        }
        #expect(e?.kind == .runtime)
        #expect(e?.message == "chunk:1: boom")
        #expect(e?.value == "chunk:1: boom")
        let traceback = e?.traceback ?? ""
        #expect(traceback.hasPrefix("stack traceback:\n\t[C]: in function 'error'"))
        #expect(traceback.contains("chunk:1: in upvalue 'inner'"))
        #expect(traceback.contains("chunk:2: in local 'outer'"))
        #expect(e?.description == "chunk:1: boom\n" + traceback)
    }

    @Test func tableErrorKeepsTheOriginalValue() throws {
        let e = error { () throws(LuaError) in try lua.run("error({code = 7, what = 'bad'})") }
        #expect(e?.kind == .runtime)
        #expect(e?.value == .table(LuaTable(hash: ["code": 7, "what": "bad"])))
        #expect(e?.message == "(error object is a table value)")
        #expect(e?.traceback != nil)
        #expect(e?.messageFromMetamethod == false)
    }

    @Test func tostringMetamethodGivesTheMessageWithoutTraceback() throws {
        let e = error { () throws(LuaError) in
            try lua.run(
                """
                error(setmetatable({kind = "Empty"}, {__tostring = function(self) return self.kind .. ": queue empty" end}))
                """)
        }
        #expect(e?.message == "Empty: queue empty")
        #expect(e?.messageFromMetamethod == true)
        #expect(e?.description == "Empty: queue empty")
        guard case .table(let t) = e?.value else {
            Issue.record("value lost: \(String(describing: e?.value))")
            return
        }
        #expect(t["kind"] == "Empty")
    }

    @Test func tostringRunsWhereTheErrorWasRaised() throws {
        // As under lua.c, __tostring sees the raising function four levels up.
        let e = error { () throws(LuaError) in
            try lua.run(
                """
                local m = setmetatable({}, {__tostring = function()
                  return tostring(debug.getinfo(4).currentline)
                end})

                error(m)
                """, chunkName: "=c")
        }
        #expect(e?.message == "5")
    }

    @Test func numberAndNilErrors() throws {
        let number = error { () throws(LuaError) in try lua.run("error(12)") }
        #expect(number?.message == "12")
        #expect(number?.value == 12)
        let none = error { () throws(LuaError) in try lua.run("error()") }
        #expect(none?.message == "(error object is a nil value)")
        #expect(none?.value == .nil)
    }

    @Test func errorInsideTostringBecomesTheError() throws {
        let e = error { () throws(LuaError) in
            try lua.run("error(setmetatable({}, {__tostring = function() error('inner', 0) end}))")
        }
        #expect(e?.kind == .runtime)
        #expect(e?.message == "inner")
    }

    @Test func endlessErrorsInTheHandlerAreAnErrorHandlerFailure() throws {
        let e = error { () throws(LuaError) in
            try lua.run("local t; t = setmetatable({}, {__tostring = function(e) error(e) end}); error(t)")
        }
        // Lua reports this as a C stack overflow from inside the handler.
        #expect(e?.kind == .runtime)
        #expect(e?.message.contains("stack overflow") == true)
        #expect(lua.lua.top == 0)
    }

    @Test func missingFileIsAFileError() throws {
        let e = error { () throws(LuaError) in try lua.runFile("/nonexistent/forklift.lua") }
        #expect(e?.kind == .file)
        #expect(e?.message == "cannot open /nonexistent/forklift.lua: No such file or directory")
    }

    @Test func memoryStatusIsAMemoryError() throws {
        // A real allocation failure is tested end to end under `ulimit -v`;
        // here: how the status maps.
        lua.lua.push("not enough memory")
        let e = lua.lua.error(status: LUA_ERRMEM, owner: lua)
        lua.lua.pop()
        #expect(e.kind == .memory)
        #expect(e.message == "not enough memory")
        #expect(e.traceback == nil)
    }

    @Test func staleHandlerRecordsDoNotLeakIntoLaterErrors() throws {
        _ = error { () throws(LuaError) in try lua.run("error('first')") }
        let e = error { () throws(LuaError) in try lua.load("x = = 2", chunkName: "=s") }
        #expect(e?.message == "s:1: unexpected symbol near '='")
        #expect(e?.traceback == nil)
    }

    @Test func loadsBytesThatAreNotUTF8AndBinaryChunks() throws {
        // Source with a Latin-1 byte inside a string literal.
        try lua.load(bytes: Array("return #'caf".utf8) + [0xE9] + Array("'".utf8), chunkName: "=bytes")
        #expect(try lua.call(nargs: 0) == 1)
        #expect(try lua.lua.value(at: -1) == 4)
        lua.lua.pop()

        guard case .string(let dumped) = try lua.run("return string.dump(function(x) return x + 1 end)").first else {
            Issue.record("no dump")
            return
        }
        try lua.load(bytes: dumped.bytes, chunkName: "=dumped", mode: "b")
        lua.lua.push(Int64(41))
        #expect(try lua.call(nargs: 1) == 1)
        #expect(try lua.lua.value(at: -1) == 42)
        lua.lua.pop()

        let refused = error { () throws(LuaError) in try lua.load(bytes: dumped.bytes, chunkName: "=dumped", mode: "t") }
        #expect(refused?.kind == .syntax(incompleteInput: false))
        #expect(refused?.message.contains("attempt to load a binary chunk") == true)
        #expect(lua.lua.top == 0)
    }
}
