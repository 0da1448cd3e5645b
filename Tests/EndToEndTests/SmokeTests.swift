import Testing

@Suite("forklift runs Lua like lua5.4") struct SmokeTests {
    @Test func printsAndExits() throws {
        let r = try Forklift.runScript("print('hello', ...)", arguments: ["a", "b"])
        #expect(r.stdout == "hello\ta\tb\n")
        #expect(r.status == 0)
    }

    @Test func runtimeErrorExitsOneWithTraceback() throws {
        let r = try Forklift.run(["-e", "error('boom')"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("(command line):1: boom"))
        #expect(r.stderr.contains("stack traceback:"))
    }

    @Test func multiprocessingModuleLoads() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local t0 = mp.time(); mp.sleep(0.05)
            assert(mp.time() - t0 >= 0.05)
            assert(mp.cpu_count() >= 1)
            print("ok")
            """)
        #expect(r.stdout == "ok\n")
        #expect(r.status == 0)
    }
}

@Suite("a user's debug hook", .serialized) struct UserHookTests {
    /// Waits end early only for Ctrl-C's own hook: a profiler or coverage
    /// tool's `debug.sethook` must not make a blocking call return without its value.
    @Test func blockingCallsIgnoreAUsersHook() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local calls = 0
            debug.sethook(function() calls = calls + 1 end, "", 1)
            local q = mp.Queue()
            local p = mp.Process{target = function(q) mp.sleep(0.3); q:put("late") end, args = {q}}
            p:start()
            print("got", q:get())
            local a, b = mp.Pipe()
            local p2 = mp.Process{target = function(c) mp.sleep(0.2); c:send("piped") end, args = {b}}
            p2:start()
            print("recv", a:recv(), a:poll(0.05))
            local t0 = mp.time(); mp.sleep(0.2); print("slept", mp.time() - t0 >= 0.2)
            local lock = mp.Lock()
            lock:acquire()
            local p3 = mp.Process{target = function(l) mp.sleep(0.2); l:release() end, args = {lock}}
            local ok = pcall(p3.start, p3)
            local pool = mp.Pool(2)
            print("map", table.concat(pool:map(function(x) mp.sleep(0.1) return x end, {1, 2, 3}), " "))
            pool:close(); pool:join(); p:join(); p2:join()
            if ok then p3:join() end
            print("hook ran", calls > 0)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "got\tlate\nrecv\tpiped\tfalse\nslept\ttrue\nmap\t1 2 3\nhook ran\ttrue\n")
    }
}
