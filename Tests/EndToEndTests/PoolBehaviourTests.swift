import Foundation
import Testing

/// How pool functions, errors, lifecycles and progress bars behave (issue 4, items 1, 2, 4 and 6).
@Suite("mp.Pool behaviour", .serialized)
struct PoolBehaviourTests {
    @Test func closuresUpvaluesAndChangedUpvalues() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local offset, names = 100, {"a", "b", "c"}
            local function label(i) return names[i] .. (i + offset) end
            print(table.concat(pool:map(label, {1, 2, 3}), " "))
            offset = 200
            print(table.concat(pool:map(label, {1, 2, 3}), " "))
            -- A closure over a local module handle (the most common case).
            local json_like = { encode = function(t) return "[" .. table.concat(t, ";") .. "]" end }
            print(pool:apply(function() return json_like.encode({1, 2}), mp.current_process().name:match("PoolWorker%-%d+$") ~= nil end))
            -- Functions defined after the pool started.
            local function later(x) return x .. "!" end
            print(table.concat(pool:map(later, {"x", "y"}), " "))
            print(pool:apply(string.rep, "ab", 3))
            """)
        #expect(r.stdout == """
            a101 b102 c103
            a201 b202 c203
            [1;2]\ttrue
            x! y!
            ababab

            """)
    }

    @Test func functionsTypedInTheREPLAfterThePoolStarted() throws {
        let session = """
            mp = require "multiprocessing"
            pool = mp.Pool(2)
            function late(x) return x * 3 end
            print("late", table.concat(pool:map(late, {1, 2, 3}), ","))
            do local k = 5; addk = function(x) return x + k end end
            print("addk", pool:map(addk, {1, 2})[2])
            pool:close(); pool:join()

            """
        for mode in [["-i"], ["-"]] {
            let r = try Forklift.run(mode, stdin: session)
            #expect(r.status == 0, "\(mode): \(r.stderr)")
            #expect(r.stdout.contains("late\t3,6,9\n"), "\(mode): \(r.stdout)")
            #expect(r.stdout.contains("addk\t7\n"), "\(mode): \(r.stdout)")
        }
    }

    @Test func remoteErrorFields() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            -- Item 7 fails first in time, item 3 first in input order.
            local function f(x)
              if x == 3 then mp.sleep(0.3); error({code = x}) end
              if x == 7 then error("seven") end
              return x
            end
            local ok, e = pcall(pool.map, pool, f, {1, 2, 3, 4, 5, 6, 7, 8}, {chunksize = 1})
            print(ok, e.kind, e.index, type(e.value), e.value.code, e.message)
            print(tostring(e):match("^RemoteError: ") ~= nil)
            -- The user's function is named by where it is defined (the worker calls it from C).
            print(e.traceback:match("script%.lua:%d+: in function <[^>]*script%.lua:%d+>$") ~= nil, e.traceback:find("[C]: in function 'error'", 1, true) ~= nil)
            local ok, e = pcall(pool.apply, pool, function() local t = nil; return t.x end)
            print(ok, e.kind, e.index, e.message:match("attempt to index a nil value") ~= nil, e.value == e.message)
            local ok, e = pcall(pool.starmap, pool, function(a, b) return a // b end, {{4, 2}, {1, 0}})
            print(ok, e.kind, e.index, e.message:match("attempt to divide by zero$") ~= nil)
            -- The pool stays usable.
            print(table.concat(pool:map(function(x) return x + 1 end, {1, 2, 3}), ","))
            """)
        #expect(r.stdout == """
            false\tRemoteError\t3\ttable\t3\t(error object is a table value)
            true
            true\ttrue
            false\tRemoteError\t1\ttrue\ttrue
            false\tRemoteError\t2\ttrue
            2,3,4

            """)
    }

    @Test func unsendableArgumentsAreRefusedBeforeAnythingIsSent() throws {
        let dir = try Forklift.temporaryDirectory()
        let log = dir.appendingPathComponent("ran.txt").path
        let r = try PoolTestKit.run("""
            local log = \(String(reflecting: log))
            local pool <close> = mp.Pool(2)
            local function record(x) local f = io.open(log, "a"); f:write(tostring(x), ";"); f:close(); return x end
            local xs = {}
            for i = 1, 1000 do xs[i] = i end
            xs[900] = { file = io.stdout }
            local ok, e = pcall(pool.map, pool, record, xs)
            print(ok, e.kind, e.message)
            local ok, e = pcall(pool.apply, pool, record, 1, coroutine.create(print))
            print(ok, e.kind, e.message)
            local ok, e = pcall(pool.apply_async, pool, record, {io.stderr})
            print(ok, e.kind, e.message)
            -- Streamed input: refused when its chunk is read, named by its place in the input.
            local i = 0
            local ok, e = pcall(function()
              for _ in pool:imap(function(x) return x end, function() i = i + 1; if i == 150 then return io.stdout elseif i < 200 then return i end end) do end
            end)
            print(ok, e.kind, e.message, e.index)
            local f = io.open(log)
            print("ran", f and f:read("a") or "nothing")
            if f then f:close() end
            -- An unsendable function or result.
            local co = coroutine.create(print)
            print(pcall(pool.map, pool, function(x) return co end, {1}))
            local ok, e = pcall(pool.map, pool, function(x) if x == 2 then return coroutine.create(print) end return x end, {1, 2, 3})
            print(ok, e.kind, e.index, e.message:match("^cannot send the result") ~= nil)
            print(table.concat(pool:map(function(x) return x * 2 end, {1, 2}), ","))
            """)
        #expect(r.stdout == """
            false\tNotSendable\tcannot send userdata (FILE*) at [900].file
            false\tNotSendable\tcannot send coroutine at args[2]
            false\tNotSendable\tcannot send userdata (FILE*) at args[1]
            false\tNotSendable\tcannot send userdata (FILE*) at [150]\t150
            ran\tnothing
            false\tNotSendable: cannot send coroutine at value<upvalue co>
            false\tRemoteError\t2\ttrue
            2,4

            """)
    }

    @Test func lifecycleErrors() throws {
        let r = try PoolTestKit.run("""
            local pool = mp.Pool(2)
            print(pcall(pool.join, pool))
            pool:close()
            print(pcall(pool.map, pool, print, {1}))
            print(pcall(pool.apply_async, pool, print))
            print(pcall(pool.imap, pool, print, {1}))
            pool:join(); pool:join()
            pool:terminate()
            print(tostring(pool), #children())
            local t = mp.Pool(2)
            t:terminate(); t:terminate()
            print(pcall(t.map, t, print, {1}))
            print(pcall(t.join, t), #children())
            """)
        #expect(r.stdout == """
            false\tValueError: Pool is still running
            false\tStateError: Pool not running
            false\tStateError: Pool not running
            false\tStateError: Pool not running
            <multiprocessing.Pool state=joined pool_size=2>\t0
            false\tStateError: Pool not running
            true\t0

            """)
    }

    /// A forked child has a copy of its parent's pool table, but not its workers.
    @Test func aForkedChildCannotDriveItsParentsPool() throws {
        let r = try Forklift.runScript(PoolTestKit.prelude + """
            mp.set_start_method("fork")
            local mine = mp.Pool(1)
            local p = mp.Process{target = function() print(pcall(mine.map, mine, print, {1})) end}
            p:start(); p:join()
            print(mine:apply(function() return "still mine" end))
            mine:close(); mine:join()
            """)
        #expect(r.stdout == """
            false\tStateError: a pool can only be used by the process that created it
            still mine

            """, "\(r.stderr)")
    }

    @Test func closeVariableAndWithJoinOnSuccessTerminateOnError() throws {
        let r = try PoolTestKit.run("""
            local pids
            do
              local pool <close> = mp.Pool(2)
              pids = pool:map(function() mp.sleep(0.05) return mp.current_process().pid end, {1, 2, 3, 4}, {chunksize = 1})
              -- Work still queued when the block ends is finished, not dropped.
              pool:apply_async(function() mp.sleep(0.2) end, {}, {callback = function() print("finished before join") end})
            end
            print("after <close>", #children(), alive(pids[1]))
            local t0 = mp.time()
            local ok, e = pcall(function()
              local pool <close> = mp.Pool(2)
              pool:map_async(function() mp.sleep(30) end, {1, 2})
              error("unwinding")
            end)
            print("error", ok, e:match("unwinding$") ~= nil, #children(), mp.time() - t0 < 3)
            print("with", mp.with(mp.Pool(2), function(pool) return pool:apply(function() return 1, 2 end) end))
            local ok, e = pcall(mp.with, mp.Pool(2), function(pool)
              pool:map_async(function() mp.sleep(30) end, {1, 2}); error({why = "table error"})
            end)
            print("with error", ok, e.why, #children(), mp.time() - t0 < 6)
            print(pcall(mp.with, {}, print))
            """)
        #expect(r.stdout == """
            finished before join
            after <close>\t0\tfalse
            error\tfalse\ttrue\t0\ttrue
            with\t1\t2
            with error\tfalse\ttable error\t0\ttrue
            false\tValueError: mp.with needs a resource with a __close metamethod

            """)
    }

    static let progressScript = """
        local pool <close> = mp.Pool(2)
        local xs = {}
        for i = 1, 40 do xs[i] = i end
        local opts = arg[1] == "forced" and {progress = "always", chunksize = 1} or {chunksize = 1}
        if arg[1] == "asked" then opts.progress = true end
        local r = pool:map(function(x) mp.sleep(0.005) return x end, xs, opts)
        for _ in pool:imap(function(x) return x end, {1, 2, 3}, opts) do end
        print(#r)
        """

    @Test func progressBars() throws {
        let forced = try Forklift.runScript(PoolTestKit.prelude + Self.progressScript, arguments: ["forced"])
        #expect(forced.stdout == "40\n")
        let lines = forced.stderr.split(separator: "\n")
        #expect(lines.contains { $0.contains("100%") && $0.contains("40/40") }, "\(forced.stderr)")
        #expect(lines.contains { $0.contains("3/3") }, "\(forced.stderr)")
        #expect(!forced.stderr.contains("\r"), "forced bars on a non-terminal print lines")
        // Asked for, or made the default by --progress, but stderr is not a terminal: nothing.
        let asked = try Forklift.runScript(PoolTestKit.prelude + Self.progressScript, arguments: ["asked"])
        #expect(asked.stdout == "40\n" && asked.stderr == "", "\(asked.stderr)")
        let flag = try Forklift.runScript(PoolTestKit.prelude + Self.progressScript, options: ["--progress"])
        #expect(flag.stdout == "40\n" && flag.stderr == "", "\(flag.stderr)")
    }

    /// Runs `forklift options path` with a terminal as stdin/stdout/stderr (through `script`).
    static func onATerminal(_ options: String, _ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", "\(Forklift.executable) \(options) \(path)", "/dev/null"]
        let out = Pipe()
        p.standardOutput = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(text)")
        return text
    }

    /// On a terminal, `--progress` draws the bar in place (carriage returns).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
    func progressBarOnATerminal() throws {
        let path = try Forklift.script(PoolTestKit.prelude + Self.progressScript)
        for (options, expectBar) in [("--progress", true), ("", false)] {
            let text = try Self.onATerminal(options, path)
            #expect(text.contains("40\r\n") || text.contains("40\n"), "\(text)")
            #expect(text.contains("\r100% [") == expectBar, "\(options): \(text)")
            if expectBar { #expect(text.contains("40/40")) }
        }
        // A loop left early, an async job: each bar ends its line, so output goes on below it.
        let early = try Forklift.script(PoolTestKit.prelude + """
            local pool <close> = mp.Pool(2)
            for i in pool:imap(function(x) mp.sleep(0.002) return x end, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {chunksize = 1}) do
              if i == 3 then break end
            end
            print("after break")
            pool:map_async(function(x) return x end, {1, 2, 3}):get()
            print("after async")
            """)
        let text = try Self.onATerminal("--progress", early)
        #expect(text.contains("\nafter break"), "\(text)")
        #expect(text.contains("3/3") && text.contains("\nafter async"), "\(text)")
    }
}
