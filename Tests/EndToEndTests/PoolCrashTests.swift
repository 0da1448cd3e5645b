import Foundation
import Glibc
import Testing

/// Crash safety (issue 4, item 5): a dying worker fails only its task, the
/// pool replaces it, nothing hangs, and nothing is left behind.
@Suite("mp.Pool crash safety", .serialized)
struct PoolCrashTests {
    @Test func workerSIGKILLedInTheMiddleOfAMap50Times() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local xs = {}
            for i = 1, 12 do xs[i] = i end
            local pids = {}
            for round = 1, 50 do
              local ok, e = pcall(pool.map, pool, function(x)
                if x == 7 then os.execute("kill -9 " .. mp.current_process().pid) mp.sleep(5) end
                return x
              end, xs, {chunksize = 1})
              assert(not ok and e.kind == "WorkerLost", tostring(e))
              assert(e.signal == 9 and e.exitcode == nil and e.index == 7, tostring(e))
              assert(not pids[e.pid], "a pid was lost twice")
              pids[e.pid] = true
              local r = pool:map(function(x) return x * x end, xs)
              assert(#r == 12 and r[12] == 144)
            end
            -- Killed from the parent, with a pid learned from a task.
            local victim = pool:apply(function() return mp.current_process().pid end)
            local ar = pool:map_async(function(x) mp.sleep(0.2) return mp.current_process().pid end, {1, 2, 3, 4}, {chunksize = 1})
            mp.sleep(0.05)
            os.execute("kill -9 " .. victim)
            local ok, e = pcall(ar.get, ar)
            print(ok, e.kind, e.pid == victim, e.signal, e.index == 1 or e.index == 2)
            print(#pool:map(function(x) return x end, xs))
            """, timeout: 120)
        #expect(r.stdout == "false\tWorkerLost\ttrue\t9\ttrue\n12\n")
    }

    @Test func exitAndSegfaultInsideATask() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local ok, e = pcall(pool.map, pool, function(x) if x == 3 then os.exit(3) end return x end, {1, 2, 3, 4}, {chunksize = 1})
            print(ok, e.kind, e.exitcode, e.signal, e.index, math.type(e.pid), e.message:match("exited with code 3") ~= nil)
            local ok, e = pcall(pool.apply, pool, function() os.execute("kill -SEGV " .. mp.current_process().pid); mp.sleep(5) end)
            print(ok, e.kind, e.signal, e.exitcode, e.index)
            local ok, e = pcall(pool.apply, pool, function() os.exit(0) end)
            print(ok, e.kind, e.exitcode)
            -- With chunks, only the item the worker was running is lost (the
            -- worker's progress word in shared memory says which): numbers
            -- (run by the C loop) and strings (the Lua loop) alike; the rest
            -- of its chunk runs on the replacement.
            local ok, e = pcall(pool.map, pool, function(x) if x == 6 then os.exit(9) end return x end,
                                {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {chunksize = 4})
            print(ok, e.index, e.first, e.last, e.exitcode)
            local words = {}
            for i = 1, 12 do words[i] = "w" .. i end
            local got = {}
            local ok, e = pcall(function()
              for i, v in pool:imap(function(s) if s == "w7" then os.exit(5) end return s:upper() end, words, {chunksize = 4}) do
                got[#got + 1] = v
              end
            end)
            print(ok, e.index, e.first, e.last, e.exitcode, table.concat(got, ","))
            local got = {}
            local ok, e = pcall(function()
              for i, v in pool:imap_unordered(function(x) if x == 2 then os.exit(4) end return x end, {1, 2, 3}, {chunksize = 1}) do got[#got + 1] = i end
            end)
            print(ok, e.kind, e.index, e.exitcode)
            print(table.concat(pool:map(function(x) return x end, {1, 2, 3}), ","))
            """)
        #expect(r.stdout == """
            false\tWorkerLost\t3\tnil\t3\tinteger\ttrue
            false\tWorkerLost\t11\tnil\t1
            false\tWorkerLost\t0
            false\t6\t6\t6\t9
            false\t7\t7\t7\t5\tW1,W2,W3,W4,W5,W6
            false\tWorkerLost\t2\t4
            1,2,3

            """)
    }

    /// Progress words (one per live worker, from one shared array of 1024
    /// per process) go back when a worker is reaped: after more workers than
    /// that have come and gone, and after a worker killed in a task, a lost
    /// item is still named exactly.
    @Test func progressWordsAreReused() throws {
        let r = try PoolTestKit.run("""
            for _ = 1, 550 do local p = mp.Pool(2); p:close(); p:join() end
            local pool <close> = mp.Pool(2)
            for round = 1, 3 do
              local ok, e = pcall(pool.map, pool, function(x) if x == 6 then os.exit(9) end return x end,
                                  {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {chunksize = 4})
              print(round, e.index, e.first, e.last)
            end
            """)
        #expect(r.stdout == "1\t6\t6\t6\n2\t6\t6\t6\n3\t6\t6\t6\n", "\(r.stderr)")
    }

    @Test func terminateDuringALongMapReturnsPromptly() throws {
        let r = try PoolTestKit.run("""
            local pool = mp.Pool(2)
            local ar = pool:map_async(function(x) mp.sleep(30) return x end, {1, 2, 3, 4})
            mp.sleep(0.1)
            local t0 = mp.time()
            pool:terminate()
            print("async", mp.time() - t0 < 1, #children(), pcall(ar.get, ar))
            -- From a callback while a long map runs.
            local pool2 = mp.Pool(2)
            pool2:apply_async(function() mp.sleep(0.1) end, {}, {callback = function() pool2:terminate() end})
            local t0 = mp.time()
            local ok, e = pcall(pool2.map, pool2, function(x) mp.sleep(30) return x end, {1, 2, 3, 4, 5, 6}, {chunksize = 1})
            print("map", ok, e.kind, mp.time() - t0 < 2, #children())
            """)
        #expect(r.stdout == """
            async\ttrue\t0\tfalse\tStateError: pool was terminated
            map\tfalse\tStateError\ttrue\t0

            """)
    }

    @Test func aWorkerDyingWhileJoinWaitsDoesNotHangIt() throws {
        let r = try PoolTestKit.run("""
            local pool = mp.Pool(2)
            local ar = pool:map_async(function(x) if x == 2 then os.exit(2) end mp.sleep(0.05) return x end, {1, 2, 3, 4, 5, 6}, {chunksize = 1})
            pool:close()
            pool:join()
            local ok, e = pcall(ar.get, ar)
            print(ok, e.kind, e.index, e.exitcode, #children())
            -- Re-entrant use from a callback, and terminate from inside an imap loop.
            local p2 = mp.Pool(2)
            local got
            local a = p2:apply_async(function() return 3 end, {}, {callback = function(v) got = p2:map(function(x) return x * v end, {1, 2}) end})
            print(a:get(), table.concat(got, ","))
            print(pcall(function()
              for i in p2:imap(function(x) mp.sleep(0.01) return x end, {1, 2, 3, 4, 5}, {chunksize = 1}) do
                if i == 2 then p2:terminate() end
              end
            end))
            print(#children())
            """)
        #expect(r.stdout == """
            false\tWorkerLost\t2\t2\t0
            3\t3,6
            false\tStateError: pool was terminated
            0

            """)
    }

    /// The descriptor limit, when it is small enough to exhaust from Lua quickly.
    static var smallDescriptorLimit: Bool {
        var limit = rlimit()
        return getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur <= 65536
    }

    @Test(.enabled(if: smallDescriptorLimit))
    func aPoolThatCannotStartAllItsWorkersLeavesNoneBehind() throws {
        let r = try PoolTestKit.run("""
            local held = {}
            while true do local f = io.open("/dev/null"); if not f then break end; held[#held + 1] = f end
            -- Room for a couple of workers, not for eight.
            for i = 1, 9 do held[#held]:close(); held[#held] = nil end
            local ok, e = pcall(mp.Pool, 8)
            print(ok, e.kind, #children())
            for _, f in ipairs(held) do f:close() end
            local p = mp.Pool(2)
            print(p:apply(function() return "works" end))
            p:close(); p:join()
            """)
        #expect(r.stdout == "false\tOSError\t0\nworks\n")
    }

    @Test func maxtasksperchildReplacesWorkers() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool{processes = 2, maxtasksperchild = 2}
            local pids = pool:map(function() return mp.current_process().pid end, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {chunksize = 1})
            local count, distinct = {}, 0
            for _, pid in ipairs(pids) do
              if not count[pid] then distinct = distinct + 1 end
              count[pid] = (count[pid] or 0) + 1
              assert(count[pid] <= 2, "a worker ran more than 2 tasks")
            end
            -- Retired workers are reaped: only the two live ones are children (none under a fork server).
            print(distinct >= 6, #children() <= 2)
            """)
        #expect(r.stdout == "true\ttrue\n")
    }

    @Test func initializerRunsOncePerWorker() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool{processes = 2, initializer = function(tag, n)
              INIT_COUNT = (INIT_COUNT or 0) + 1; TAG = tag .. n
            end, initargs = {"t", 1}}
            local r = pool:map(function() mp.sleep(0.01) return INIT_COUNT .. TAG .. ":" .. mp.current_process().pid end, {1, 2, 3, 4, 5, 6, 7, 8}, {chunksize = 1})
            local pids = {}
            for _, v in ipairs(r) do
              assert(v:match("^1t1:"), v)
              pids[v] = true
            end
            local n = 0
            for _ in pairs(pids) do n = n + 1 end
            print(n)
            -- A replacement worker runs the initializer too.
            pcall(pool.apply, pool, os.exit, 1)
            print(table.concat(pool:map(function() return INIT_COUNT .. TAG end, {1, 2}, {chunksize = 1}), ","))
            """)
        #expect(r.stdout == "2\n1t1,1t1\n")
    }

    @Test func aFailingInitializerBreaksThePoolInsteadOfHanging() throws {
        let r = try PoolTestKit.run("""
            local t0 = mp.time()
            local pool = mp.Pool{processes = 2, initializer = function() error({reason = "no database"}) end}
            local ok, e = pcall(pool.map, pool, function(x) return x end, {1, 2, 3})
            print(ok, e.kind, e.message:match("^pool initializer failed in %a+PoolWorker%-%d: ") ~= nil, e.value.reason)
            print(e.traceback:find("[C]: in function 'error'", 1, true) ~= nil)
            local ok2, e2 = pcall(pool.apply, pool, print)
            print(ok2, e2 == e)
            local ar = pcall(pool.apply_async, pool, print)
            print(ar, #children(), mp.time() - t0 < 3)
            pool:close(); pool:join()
            -- A map started before the failure is seen fails the same way.
            local p2 = mp.Pool{processes = 2, initializer = function() mp.sleep(0.1) error("late") end}
            local a = p2:map_async(function(x) return x end, {1, 2})
            local ok, e = pcall(a.get, a)
            print(ok, e.kind, e.message:match("late$") ~= nil)
            p2:terminate()
            """, timeout: 20)
        #expect(r.stdout == """
            false\tRemoteError\ttrue\tno database
            true
            false\ttrue
            false\t0\ttrue
            false\tRemoteError\ttrue

            """)
    }

    @Test func noZombieNorDescriptorLeftAfterCloseJoinOrGC() throws {
        let r = try PoolTestKit.run("""
            local fds0 = fd_count()
            for i = 1, 30 do
              local p = mp.Pool(2)
              p:map(function(x) return x end, {1, 2, 3})
              if i % 3 == 0 then p:terminate() else p:close(); p:join() end
            end
            print("loop", fd_count() - fds0, #children())
            -- Pools never closed: collected, their workers go away.
            for i = 1, 5 do local p = mp.Pool(2); p:apply(print, "x") end
            collectgarbage(); collectgarbage()
            print("gc", fd_count() - fds0, #children())
            -- A pool left open at the end of the script does not keep it alive.
            LEFT_OPEN = mp.Pool(2)
            LEFT_OPEN:map_async(function() mp.sleep(30) end, {1, 2})
            """, timeout: 30)
        #expect(r.stdout == "loop\t0\t0\n" + String(repeating: "x\n", count: 5) + "gc\t0\t0\n")
    }

    @Test func nestedProcessAndPoolInsideATask() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            print(pool:apply(function()
              local q = mp.Process{target = function() os.exit(5) end}
              q:start(); q:join()
              return q.exitcode
            end))
            print(table.concat(pool:map(function(x)
              local inner <close> = mp.Pool(2)
              return table.concat(inner:map(function(y) return y * x end, {1, 2, 3}), "+")
            end, {1, 10}), " "))
            -- A worker killed while its own child runs is still reported at once.
            local t0 = mp.time()
            local ok, e = pcall(pool.apply, pool, function()
              local q = mp.Process{target = function() mp.sleep(20) end}
              q:start()
              os.execute("kill -9 " .. mp.current_process().pid)
              mp.sleep(20)
            end)
            print(ok, e.kind, mp.time() - t0 < 5)
            -- A Process started by the host while a pool lives does not keep the workers from leaving.
            local p = mp.Process{target = function() mp.sleep(3) end}
            p:start()
            local other = mp.Pool(2)
            local t1 = mp.time()
            other:close(); other:join()
            print("join", mp.time() - t1 < 1.5)
            p:terminate(); p:join()
            """, timeout: 30)
        #expect(r.stdout == "5\n1+2+3 10+20+30\nfalse\tWorkerLost\ttrue\njoin\ttrue\n")
    }

    @Test func ctrlCDuringALongMapStopsTheHostAndEveryWorker() throws {
        let host = try GroupedForklift(PoolTestKit.prelude + """
            local pool = mp.Pool(2)
            local pids = pool:map(function() mp.sleep(0.05) return mp.current_process().pid end, {1, 2}, {chunksize = 1})
            print(pids[1], pids[2])
            io.stdout:flush()
            pool:map(function(x) mp.sleep(60) return x end, {1, 2, 3, 4}, {chunksize = 1})
            print("not interrupted")
            """)
        let line = try #require(host.readLine(), "no pids: \(host.stderr)")
        let pids = line.split(separator: "\t").compactMap { Int32($0) }
        #expect(pids.count == 2)
        usleep(200_000)
        kill(-host.pid, SIGINT)
        let status = try #require(host.waitForExit(timeout: 3), "the host is still running after Ctrl-C")
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 1, "wait status \(status)")
        #expect(host.stderr.contains("interrupted!"), "\(host.stderr)")
        #expect(host.readLine(timeout: 0.1) == nil)
        #expect(survivors(of: pids, within: 1).isEmpty)
    }

    @Test func sigintToTheHostAloneInterruptsItsWait() throws {
        let host = try GroupedForklift(PoolTestKit.prelude + """
            local pool = mp.Pool(2)
            local pids = pool:map(function() mp.sleep(0.05) return mp.current_process().pid end, {1, 2}, {chunksize = 1})
            print(pids[1], pids[2])
            io.stdout:flush()
            local ok, e = pcall(pool.map, pool, function(x) mp.sleep(60) return x end, {1, 2, 3, 4}, {chunksize = 1})
            print("caught", e)
            pool:terminate()
            print("left", #children())
            """)
        let line = try #require(host.readLine(), "no pids: \(host.stderr)")
        let pids = line.split(separator: "\t").compactMap { Int32($0) }
        usleep(200_000)
        kill(host.pid, SIGINT)
        #expect(host.readLine(timeout: 3)?.hasSuffix("interrupted!") == true, "\(host.stderr)")
        #expect(host.readLine(timeout: 3) == "left\t0")
        #expect(host.waitForExit(timeout: 3) != nil)
        #expect(survivors(of: pids, within: 1).isEmpty)
    }
}
