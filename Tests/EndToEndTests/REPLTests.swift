import Foundation
import Testing

/// The REPL through piped standard input, compared with `lua5.4 -i`.
@Suite("REPL with piped input is lua5.4's")
struct PipedREPLTests {
    @Test func expressionsStatementsAndContinuations() throws {
        let r = try LuaComparison.expectSame(
            ["-i"],
            stdin: """
                1 + 1
                =math.maxinteger
                x = 10
                x, nil, 'three'
                function f(n)
                  return n * 2
                end
                f(21)
                for i = 1, 2 do
                print(i)
                end
                s = [[a
                b]]
                =s

                """)
        #expect(r?.stdout.contains("> 1 + 1\n2\n") == true)
        #expect(r?.stdout.contains("> function f(n)\n>>   return n * 2\n>> end\n") == true)
        #expect(r?.stdout.contains("10\tnil\tthree\n") == true)
        #expect(r?.status == 0)
    }

    @Test func errorsPrintATracebackAndTheLoopGoesOn() throws {
        let r = try LuaComparison.expectSame(
            ["-i"],
            stdin: """
                error("first")
                x = = 1
                error({})
                error(setmetatable({}, {__tostring = function() return "custom" end}))
                print("still here")

                """)
        #expect(r?.stderr.hasPrefix("stdin:1: first\nstack traceback:\n") == true)
        #expect(r?.stderr.contains("stdin:1: unexpected symbol near '='\n") == true)
        #expect(r?.stderr.contains("custom\n") == true)
        #expect(r?.stdout.contains("still here\n") == true)
        #expect(r?.status == 0)
    }

    @Test func endOfInputInsideAStatement() throws {
        try LuaComparison.expectSame(["-i"], stdin: "function f()\n")
        try LuaComparison.expectSame(["-i"], stdin: "")
        try LuaComparison.expectSame(["-i"], stdin: "print(1)")  // no final newline
    }

    @Test func promptsAreTheGlobals() throws {
        try LuaComparison.expectSame(["-e", "_PROMPT = 'lua$ ' _PROMPT2 = '...'", "-i"], stdin: "if true then\nend\n")
        try LuaComparison.expectSame(
            ["-e", "_PROMPT = setmetatable({}, {__tostring = function() return 'T> ' end})", "-i"], stdin: "1\n")
        // An error while computing the prompt ends the interpreter, as in lua.
        try LuaComparison.expectSame(
            ["-e", "_PROMPT = setmetatable({}, {__tostring = function() error('no prompt') end})", "-i"], stdin: "1\n")
    }

    @Test func printReplacedOrMissing() throws {
        try LuaComparison.expectSame(["-e", "print = nil", "-i"], stdin: "10\n")
        try LuaComparison.expectSame(["-e", "print = function(...) io.write('[', select('#', ...), ']') end", "-i"], stdin: "1, 2\n")
    }

    @Test func scriptThenInteractive() throws {
        let script = try Forklift.script("y = 5")
        try LuaComparison.expectSame([script, "-i"], stdin: "")  // -i after the script is the script's argument
        try LuaComparison.expectSame(["-i", script], stdin: "=y\n")
    }

    @Test func chunkReadsTheSameStandardInput() throws {
        try LuaComparison.expectSame(["-i"], stdin: "s = io.read('l') print(s .. '!')\nhello\n1\n")
    }

    @Test func multiprocessingIsPreBound() throws {
        let r = try Forklift.run(["-i"], stdin: "=mp == require 'multiprocessing'\n=type(mp.cpu_count())\n")
        #expect(r.stdout.contains("\ntrue\n"))
        #expect(r.stdout.contains("\nnumber\n"))
        #expect(r.status == 0)
    }

    @Test func functionsTypedInTheREPLGoToWorkers() throws {
        let r = try Forklift.run(
            ["-i"],
            stdin: """
                function sq(x) return x * x end
                pool = mp.Pool(2)
                =table.concat(pool:map(sq, {1, 2, 3}), ",")
                pool:close() pool:join()
                p = mp.Process{target = function() print("child", sq(4)) end}
                p:start() p:join()
                =p.exitcode

                """, timeout: 30)
        #expect(r.stdout.contains("\n1,4,9\n"))
        #expect(r.stdout.contains("child\t16\n"))
        #expect(r.stdout.contains("\n0\n"))
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        #expect(r.status == 0)
    }
}

/// The REPL on a pseudo-terminal: libedit, history, Ctrl-C and Ctrl-D.
@Suite("forklift at a terminal", .serialized)
struct TerminalREPLTests {
    @Test func evaluatesContinuesAndLeavesOnCtrlD() throws {
        let home = try Forklift.temporaryDirectory()
        let session = try TerminalSession(home: home)
        session.expect("Lua 5.4.4  Copyright (C) 1994-2022 Lua.org, PUC-Rio")
        session.expect("> ")
        session.type("1 + 1\r")
        session.expect("2\r\n> ")
        session.type("function f(n)\r")
        session.expect(">> ")
        session.type("return n * 3 end\r")
        session.expect("> ")
        session.type("=f(14)\r")
        session.expect("42\r\n> ")
        session.type("=mp.cpu_count() >= 1\r")
        session.expect("true\r\n> ")
        session.type("error('oops')\r")
        session.expect("stdin:1: oops\r\nstack traceback:")
        session.expect("> ")
        #expect(session.leave() == 0)

        // The statements were saved to the history file in $HOME (libedit
        // writes spaces as \\040).
        let history = try String(contentsOf: home.appendingPathComponent(".forklift_history"), encoding: .utf8)
        #expect(history.hasPrefix("_HiStOrY_V2_\n"))
        #expect(history.contains("return\\040f(14)"))
        #expect(history.contains("error('oops')"))
    }

    @Test func ctrlCAtThePromptDropsTheLineAndKeepsTheREPL() throws {
        let session = try TerminalSession(home: try Forklift.temporaryDirectory())
        session.expect("> ")
        session.type("this is not lua")
        session.expect("not lua")
        session.type("\u{3}")
        session.expect("> ")
        session.type("function g()\r")
        session.expect(">> ")
        session.type("\u{3}")  // also inside a statement: back to a fresh "> "
        session.expect("> ")
        session.type("=g\r")
        session.expect("nil\r\n> ")
        #expect(session.leave() == 0)
    }

    @Test func ctrlCInterruptsTheRunningChunkNotTheREPL() throws {
        let session = try TerminalSession(home: try Forklift.temporaryDirectory())
        session.expect("> ")
        session.type("print('looping') while true do end\r")
        session.expect("looping")
        Thread.sleep(forTimeInterval: 0.2)
        session.type("\u{3}")
        session.expect("interrupted!")
        session.expect("stack traceback:")
        session.expect("> ")
        session.type("=6 * 7\r")
        session.expect("42\r\n> ")
        #expect(session.leave() == 0)
    }

    @Test func ctrlCInAScriptEndsItAsInLua() throws {
        let script = try Forklift.script("print('working') while true do end")
        let session = try TerminalSession(arguments: [script], home: try Forklift.temporaryDirectory())
        session.expect("working")
        Thread.sleep(forTimeInterval: 0.2)
        session.type("\u{3}")
        session.expect("forklift: interrupted!\r\nstack traceback:\r\n")
        session.expect("script.lua:1: in main chunk\r\n\t[C]: in ?")
        #expect(session.waitForExit() == 1)
    }

    @Test func historyIsRecalledWithTheUpArrow() throws {
        let home = try Forklift.temporaryDirectory()
        let first = try TerminalSession(home: home)
        first.expect("> ")
        first.type("=100 + 23\r")
        first.expect("123\r\n> ")
        #expect(first.leave() == 0)

        // A new session starts with the previous one's history.
        let second = try TerminalSession(home: home)
        second.expect("> ")
        second.type("\u{1b}[A\r")
        second.expect("123\r\n")
        #expect(second.leave() == 0)
    }
}
