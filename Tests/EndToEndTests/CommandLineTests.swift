import Foundation
import Testing

/// The `forklift` command line against the stock `lua5.4`: same stdout,
/// stderr (program name aside) and exit status.
@Suite("forklift's command line is lua5.4's")
struct CommandLineTests {
    @Test func argTableAndScriptArguments() throws {
        let script = try Forklift.script(
            """
            print(select('#', ...), ...)
            for i = -4, #arg do print(i, arg[i]) end
            """)
        try LuaComparison.expectSame([script, "a", "b c", ""])
        try LuaComparison.expectSame(["-e", "x=1", "--", script, "-v", "--"])
        try LuaComparison.expectSame(["-e", "print(#arg, arg[0], arg[-1], arg[1])"])
    }

    @Test func executeAndRequireOptionsRunInOrder() throws {
        try LuaComparison.expectSame(["-eprint(1)", "-e", "a = 3", "-e", "print(a)"])
        try LuaComparison.expectSame(["-l", "str=string", "-lm=math", "-e", "print(str.upper('x'), m.max(1, 2))"])
        try LuaComparison.expectSame(["-lstring", "-e", "print(string == _G.string)"])
        try LuaComparison.expectSame(["-l", "no_such_module_here"])
    }

    @Test func standardInputAsTheScript() throws {
        try LuaComparison.expectSame(["-", "x", "y"], stdin: "print(arg[0], ...)")
        try LuaComparison.expectSame([], stdin: "print('piped', #arg)")
        try LuaComparison.expectSame(["--", "-"], stdin: "print(1)")  // a file named "-"
        // Without `-`, lua ignores an error in piped standard input's status.
        try LuaComparison.expectSame([], stdin: "error('piped')")
        try LuaComparison.expectSame(["-"], stdin: "error('piped')")
    }

    @Test func versionAndWarnings() throws {
        let r = try LuaComparison.expectSame(["-v"])
        #expect(r?.stdout == "Lua 5.4.4  Copyright (C) 1994-2022 Lua.org, PUC-Rio\n")
        try LuaComparison.expectSame(["-v", "-e", "print'hello'"])
        try LuaComparison.expectSame(["-W", "-e", "warn('shown')"])
        try LuaComparison.expectSame(["-e", "warn('hidden')"])
    }

    @Test func luaInitVariables() throws {
        let script = try Forklift.script("print(X, package.path == package.path)")
        try LuaComparison.expectSame([script, "3.2"], environment: ["LUA_INIT": "X = tonumber(arg[1])"])
        try LuaComparison.expectSame([script], environment: ["LUA_INIT_5_4": "X = 10", "LUA_INIT": "X = 3"])
        let initFile = try Forklift.script("X = 'from file'", name: "init.lua")
        try LuaComparison.expectSame([script], environment: ["LUA_INIT": "@" + initFile])
        try LuaComparison.expectSame([script], environment: ["LUA_INIT": "error('in init')"])
        // -E: no LUA_INIT, no LUA_PATH.
        try LuaComparison.expectSame(
            ["-E", "-e", "print(X, package.path:find('xxx'))"],
            environment: ["LUA_INIT": "X = 1", "LUA_PATH": "xxx"])
        try LuaComparison.expectSame(["-e", "print(package.path)"], environment: ["LUA_PATH": "xxx;;"])
    }

    @Test func syntaxError() throws {
        let script = try Forklift.script("x = = 1")
        let r = try LuaComparison.expectSame([script])
        #expect(r?.status == 1)
        #expect(r?.stderr.hasPrefix("PROG: ") == true)
        #expect(r?.stderr.hasSuffix("script.lua:1: unexpected symbol near '='\n") == true)
        try LuaComparison.expectSame(["-e", "a"])
    }

    @Test func runtimeErrorWithTraceback() throws {
        let script = try Forklift.script(
            """
            local function f() error("boom") end
            f()
            """)
        let r = try LuaComparison.expectSame([script])
        #expect(r?.status == 1)
        // Long paths are shortened in messages, as lua does ("...").
        let lines = r?.stderr.split(separator: "\n", omittingEmptySubsequences: false) ?? []
        #expect(lines.count == 7)
        guard lines.count == 7 else { return }
        #expect(lines[0].hasPrefix("PROG: ") && lines[0].hasSuffix("script.lua:1: boom"))
        #expect(lines[1] == "stack traceback:")
        #expect(lines[2] == "\t[C]: in function 'error'")
        #expect(lines[3].hasSuffix("script.lua:1: in local 'f'"))
        #expect(lines[4].hasSuffix("script.lua:2: in main chunk"))
        #expect(lines[5] == "\t[C]: in ?")
    }

    @Test func errorObjects() throws {
        // __tostring gives the whole message, computed where the error was raised.
        let located = try Forklift.script(
            """
            m = setmetatable({x = 0}, {__tostring = function(x)
              return tostring(debug.getinfo(4).currentline + x.x)
            end})
            error(m)
            """)
        let r = try LuaComparison.expectSame([located])
        #expect(r?.stderr == "PROG: 4\n")
        try LuaComparison.expectSame(["-e", "error{}"])
        try LuaComparison.expectSame(["-e", "error()"])
        try LuaComparison.expectSame(["-e", "error(42.5)"])
        try LuaComparison.expectSame(["-e", "error(setmetatable({}, {__tostring = function() return 1 end}))"])
        try LuaComparison.expectSame(["-e", "error(setmetatable({}, {__tostring = function() error('in ts') end}))"])
    }

    @Test func exitStatuses() throws {
        let r = try LuaComparison.expectSame(["-e", "io.write('before'); os.exit(3)"])
        #expect(r?.status == 3)
        #expect(r?.stdout == "before")
        try LuaComparison.expectSame(["-e", "os.exit(false)"])
        try LuaComparison.expectSame(["-e", "os.exit(true, true)"])
        try LuaComparison.expectSame(
            ["-e", "local x <close> = setmetatable({}, {__close = function() print('closed') end}) os.exit(0, true)"])
        let gc = try Forklift.script("setmetatable({}, {__gc = function() print('finalized at close') end})")
        try LuaComparison.expectSame([gc])
    }

    @Test func missingScript() throws {
        let r = try LuaComparison.expectSame(["/nonexistent/script.lua"])
        #expect(r?.status == 1)
    }

    @Test func badOptionsPrintUsage() throws {
        for bad in [["-h"], ["---"], ["-Ex"], ["-vv"], ["-iv"], ["-e"], ["-l"], ["-e", "-x"]] {
            guard let pair = try LuaComparison.run(bad) else { return }
            #expect(pair.forklift.status == 1)
            #expect(pair.lua.status == 1)
            // lua's usage, then Forklift's own two options.
            #expect(pair.forklift.stderr.hasPrefix(pair.lua.stderr), "\(bad)")
            #expect(pair.forklift.stderr.contains("--workers N"))
            #expect(pair.forklift.stdout.isEmpty)
        }
    }

    @Test func workerOptions() throws {
        for good in [["-w", "4"], ["-w4"], ["--workers", "2"], ["--workers=3"], ["--progress"]] {
            let r = try Forklift.run(good + ["-e", "print(arg[1])"])
            #expect(r.status == 0, "\(good): \(r.stderr)")
            #expect(r.stdout == good[0] + "\n", "the options stay in arg, as lua's do")
        }
        for bad in [["-w"], ["-w", "0"], ["-wx"], ["--workers"], ["--workers=-1"]] {
            let r = try Forklift.run(bad)
            #expect(r.status == 1)
            #expect(r.stderr.contains("needs a positive number of workers"), "\(bad): \(r.stderr)")
            #expect(r.stderr.contains("usage:"))
        }
    }

    @Test func workerCountBecomesThePoolsDefaultSize() throws {
        // Three tasks meet at a barrier of three: only three workers at once get through.
        let script = try Forklift.script(
            """
            local mp = require "multiprocessing"
            local b = mp.Barrier(3)
            local pool <close> = mp.Pool()
            local ok, r = pcall(pool.map, pool, function() return b:wait(1) end, {1, 2, 3})
            print(ok)
            """)
        #expect(try Forklift.run(["-w", "3", script]).stdout == "true\n")
        #expect(try Forklift.run(["--workers=2", script]).stdout == "false\n")
        let progress = "print(require('multiprocessing')._default_progress())"
        #expect(try Forklift.run(["--progress", "-e", progress]).stdout == "true\n")
        #expect(try Forklift.run(["-e", progress]).stdout == "false\n")
    }

    @Test func manyArguments() throws {
        let script = try Forklift.script("print(select('#', ...), (select(30, ...)))")
        try LuaComparison.expectSame([script] + Array(repeating: "a", count: 300))
    }

    @Test func outOfMemory() throws {
        // A real allocation failure: the address space is capped for both.
        let code = "local t = {} for i = 1, 1e9 do t[i] = i end"
        for program in [Forklift.executable, LuaComparison.stockLua].compactMap({ $0 }) {
            let r = try Forklift.run(
                ["-c", "ulimit -v 400000; exec \"$0\" -e \"$1\"", program, code], executable: "/bin/sh")
            #expect(r.status == 1, "\(program)")
            #expect(r.stderr == "\(program): not enough memory\n")
        }
    }
}
