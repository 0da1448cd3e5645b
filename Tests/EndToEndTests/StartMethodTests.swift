import Foundation
import Testing

/// The start methods of issue 8: fork (the default), spawn (a fresh
/// `forklift` per worker) and forkserver (one exec'd server that forks on
/// request). Each must pass the same process and pool scenarios.
@Suite("start methods", .serialized) struct StartMethodTests {
    static let methods = ["fork", "spawn", "forkserver"]

    /// Runs `body` after `mp.set_start_method(method)`; expects a clean exit.
    @discardableResult
    static func run(_ method: String, _ body: String, arguments: [String] = [],
                    sourceLocation: SourceLocation = #_sourceLocation) throws -> ForkliftRun {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            mp.set_start_method("\(method)")
            \(body)
            """, arguments: arguments, sourceLocation: sourceLocation)
        #expect(r.status == 0, "\(method): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    @Test(arguments: methods) func processesRunClosuresWithTheirArguments(method: String) throws {
        let r = try Self.run(method, """
            local k = 100
            local a, b = mp.Pipe()
            local p = mp.Process{target = function(conn, x, t)
              conn:send({x + k, t.name, mp.current_process().name, mp.parent_process().pid})
            end, args = {b, 5, {name = "table arg"}}, name = "worker"}
            p:start()
            local got = a:recv()
            p:join()
            print(got[1], got[2], got[3], got[4] == mp.current_process().pid, p.exitcode)
            print(mp.get_start_method())
            """)
        #expect(r.stdout == "105\ttable arg\tworker\ttrue\t0\n\(method)\n")
    }

    @Test(arguments: methods) func exitCodesAndTracebacks(method: String) throws {
        let r = try Self.run(method, """
            local function start(f)
              local p = mp.Process{target = f, name = "p"}
              p:start(); p:join()
              return p.exitcode
            end
            print(start(function() end), start(function() error("kaput") end), start(function() os.exit(7) end))
            local s = mp.Process{target = function() mp.sleep(30) end}
            s:start()
            print(s:join(0.2), s:is_alive())
            s:terminate(); s:join()
            print(s.exitcode)
            local k = mp.Process{target = function() mp.sleep(30) end}
            k:start(); k:kill(); k:join()
            print(k.exitcode)
            """)
        #expect(r.stdout == "0\t1\t7\nfalse\ttrue\n-15\n-9\n")
        #expect(r.stderr.contains("Process p:\n"))
        #expect(r.stderr.contains("kaput"))
        #expect(r.stderr.contains("stack traceback:"))
    }

    @Test(arguments: methods) func poolMapsClosuresAndSurvivesWorkerLoss(method: String) throws {
        let r = try Self.run(method, """
            local pool <close> = mp.Pool(2)
            local k = 3
            print(table.concat(pool:map(function(x) return x * k end, {1, 2, 3, 4}), " "))
            print(table.concat(pool:starmap(function(a, b) return a .. b end, {{"a", 1}, {"b", 2}}), " "))
            print(pool:apply(function(a, b) return a + b, a - b end, 10, 4))
            local ok, err = pcall(pool.map, pool, function(x) if x == 3 then os.exit(5) end return x end,
                                  {1, 2, 3, 4}, {chunksize = 1})
            print(ok, err.kind, err.index, err.exitcode)
            -- In a chunk, only the item that was running is lost (the progress word crosses too).
            ok, err = pcall(pool.map, pool, function(x) if x == 6 then os.exit(9) end return x end,
                            {1, 2, 3, 4, 5, 6, 7, 8}, {chunksize = 4})
            print(err.index, err.first, err.last)
            local ok2, err2 = pcall(pool.map, pool, function(x) if x == 2 then error({code = x}) end return x end, {1, 2, 3})
            print(ok2, err2.kind, err2.index, err2.value.code)
            print(table.concat(pool:map(function(x) return -x end, {1, 2}), " "))
            """)
        #expect(r.stdout == "3 6 9 12\na1 b2\n14\t6\nfalse\tWorkerLost\t3\t5\n6\t6\t6\nfalse\tRemoteError\t2\t2\n-1 -2\n")
    }

    @Test(arguments: ["spawn", "forkserver"]) func globalsComeFromThePreload(method: String) throws {
        let dir = try Forklift.temporaryDirectory()
        try "return { twice = function(x) return 2 * x end }".write(
            to: dir.appendingPathComponent("helpers.lua"), atomically: true, encoding: .utf8)
        try "GREETING = 'hello from the preload'".write(
            to: dir.appendingPathComponent("setup.lua"), atomically: true, encoding: .utf8)
        let r = try Self.run(method, """
            package.path = arg[1] .. "/?.lua;" .. package.path
            mp.set_preload({"helpers", arg[1] .. "/setup.lua"})
            GREETING = "only in the parent"
            local pool <close> = mp.Pool(2)
            -- The function uses globals: under spawn/forkserver they are the worker's own.
            print(table.concat(pool:map(function(x) return helpers.twice(x) end, {1, 2}), " "))
            print(pool:apply(function() return GREETING end))
            -- A module captured as an upvalue arrives as the worker's copy of it.
            local h = require "helpers"
            print(pool:apply(function() return h.twice(21) end))
            """, arguments: [dir.path])
        #expect(r.stdout == "2 4\nhello from the preload\n42\n")
    }

    @Test func forkSharesTheParentsGlobals() throws {
        let r = try Self.run("fork", """
            GREETING = "inherited"
            local pool <close> = mp.Pool(1)
            print(pool:apply(function() return GREETING end))
            """)
        #expect(r.stdout == "inherited\n")
    }

    @Test(arguments: ["spawn", "forkserver"]) func unsendableTargetsAreRefusedBeforeStarting(method: String) throws {
        let r = try Self.run(method, """
            local f = io.stdout
            local p = mp.Process{target = function() f:write("x") end}
            local ok, err = pcall(p.start, p)
            print(ok, err.kind, p.pid, #mp.active_children())
            print(err.message:find("FILE*", 1, true) ~= nil)
            """)
        #expect(r.stdout == "false\tNotSendable\tnil\t0\ntrue\n")
    }

    @Test func contextsAndChoosingAMethod() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            print(mp.get_start_method(), mp.get_start_method(true))
            print(table.concat(mp.get_all_start_methods(), " "))
            print(pcall(mp.set_start_method, "teleport"))
            local ctx = mp.get_context("spawn")
            print(ctx.get_start_method())
            local p = ctx.Process{target = function() end}
            p:start(); p:join()
            print(p.exitcode)
            local pool = ctx.Pool(1)
            print(pool:apply(function() return mp.current_process().name end))
            pool:close(); pool:join()
            mp.set_start_method("spawn")
            print(pcall(mp.set_start_method, "fork"))
            mp.set_start_method("fork", true)
            print(mp.get_start_method())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            fork\tnil
            fork spawn forkserver
            false\tValueError: cannot find context for 'teleport'
            spawn
            0
            SpawnPoolWorker-1
            false\tStateError: context has already been set
            fork

            """)
    }

    @Test func forkServerChildrenAreJoinedAtExitAndNothingLingers() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            mp.set_start_method("forkserver")
            local p = mp.Process{target = function() mp.sleep(0.3) print("non-daemon finished") end}
            p:start()
            local d = mp.Process{target = function() mp.sleep(30) end, daemon = true}
            d:start()
            print("main done", mp.current_process().pid)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("main done\t") && lines[1] == "non-daemon finished", "\(r.stdout)")
        // Neither the server (started as `forklift --forklift-spawned <host pid>`) nor the daemon outlives the host.
        let host = lines.first?.split(separator: "\t").last.map(String.init) ?? "?"
        let marker = "--forklift-spawned\0\(host)\0"
        let deadline = Date().addingTimeInterval(2)
        var survivors: [String] = []
        repeat {
            survivors = (try FileManager.default.contentsOfDirectory(atPath: "/proc")).filter { entry in
                guard Int(entry) != nil,
                    let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
                else { return false }
                return String(decoding: cmdline, as: UTF8.self).contains(marker)
            }
            if survivors.isEmpty { break }
            usleep(50_000)
        } while Date() < deadline
        #expect(survivors.isEmpty, "processes of the host still alive: \(survivors)")
    }
}
