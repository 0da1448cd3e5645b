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
