import Foundation
import Glibc
import Testing

/// The fork rules of issue 3, item 2: one thread at fork, stdio flushed around
/// fork and `_exit`, every child reaped, and no child outliving its host.
@Suite("fork rules", .serialized)
struct ForkRulesTests {
    /// Prints before forking (buffered: stdout is not a terminal), then forks three children.
    static let printThenFork = """
        local mp = require "multiprocessing"
        io.write("written before\\n")
        print("printed before")
        local f = assert(io.open(arg[1], "w"))
        f:write("file before;")
        local ps = {}
        for i = 1, 3 do
          ps[i] = mp.Process{target = function() print("child " .. i); f:write("child " .. i .. ";") end}
          ps[i]:start(); ps[i]:join()
        end
        f:close()
        print("after")
        """

    static let expectedOutput = "written before\nprinted before\nchild 1\nchild 2\nchild 3\nafter\n"
    static let expectedFile = "file before;child 1;child 2;child 3;"

    @Test func outputBeforeAForkAppearsOnceThroughAPipe() throws {
        let dir = try Forklift.temporaryDirectory()
        let side = dir.appendingPathComponent("side.txt").path
        let r = try Forklift.runScript(Self.printThenFork, arguments: [side])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == Self.expectedOutput)
        #expect(try String(contentsOfFile: side, encoding: .utf8) == Self.expectedFile)
    }

    @Test func outputBeforeAForkAppearsOnceInAFile() throws {
        let dir = try Forklift.temporaryDirectory()
        let script = try Forklift.script(Self.printThenFork)
        let out = dir.appendingPathComponent("out.txt").path
        let side = dir.appendingPathComponent("side.txt").path
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "exec \"$0\" \"$1\" \"$2\" > \"$3\"", Forklift.executable, script, side, out]
        try shell.run()
        shell.waitUntilExit()
        #expect(shell.terminationStatus == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == Self.expectedOutput)
        #expect(try String(contentsOfFile: side, encoding: .utf8) == Self.expectedFile)
    }

    @Test func childOutputIsNotLostAtExit() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local function run(f) local p = mp.Process{target = f}; p:start(); p:join(); return p.exitcode end
            run(function() io.write("plain end, no newline") end)
            io.write("|")
            run(function() io.write("before an error"); error("x") end)
            io.write("|")
            run(function() io.write("before os.exit"); os.exit(3) end)
            io.write("|")
            run(function() io.stderr:write("stderr too") end)
            print()
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "plain end, no newline|before an error|before os.exit|\n")
        #expect(r.stderr.contains("stderr too"))
    }

    /// Lua helpers: this process's children from /proc and their states.
    static let procHelpers = """
        local mp = require "multiprocessing"
        local function children()
          local pid = mp._getpid()
          local f = assert(io.open("/proc/" .. pid .. "/task/" .. pid .. "/children"))
          local list = {}
          for c in f:read("a"):gmatch("%d+") do list[#list + 1] = tonumber(c) end
          f:close()
          return list
        end
        local function state(pid)
          local f = io.open("/proc/" .. pid .. "/stat")
          if not f then return "gone" end
          local s = f:read("a"); f:close()
          return s:match("%) (%a)")
        end
        local function zombies()
          local z = 0
          for _, c in ipairs(children()) do if state(c) == "Z" then z = z + 1 end end
          return z
        end

        """

    @Test func noZombiesAfterJoinNorAtExit() throws {
        let r = try Forklift.runScript(Self.procHelpers + """
            local ps = {}
            for i = 1, 5 do ps[i] = mp.Process{target = function() end}; ps[i]:start() end
            for i = 1, 5 do ps[i]:join() end
            print("after join", #children(), zombies())
            -- Reaped through is_alive / exitcode / active_children too.
            local a = mp.Process{target = function() end}; a:start()
            while a:is_alive() do mp.sleep(0.005) end
            local b = mp.Process{target = function() end}; b:start()
            while b.exitcode == nil do mp.sleep(0.005) end
            local c = mp.Process{target = function() end}; c:start()
            while #mp.active_children() > 0 do mp.sleep(0.005) end
            local d = mp.Process{target = function() mp.sleep(30) end}; d:start(); d:terminate(); d:join()
            print("after polling", #children(), zombies())
            -- A child that never joins its own child: its exit reaps it.
            local a_end, b_end = mp.Pipe()
            local parent = mp.Process{target = function(conn)
              local g = mp.Process{target = function() mp.sleep(0.2) end}
              g:start()
              conn:send(g.pid)
            end, args = {b_end}}
            parent:start()
            local grandchild = a_end:recv()
            parent:join()
            print("grandchild", state(grandchild), parent.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "after join\t0\t0\nafter polling\t0\t0\ngrandchild\tgone\t0\n")
    }

    @Test func killingTheHostLeavesNoOrphans() throws {
        let host = try GroupedForklift("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local ps = {}
            for i = 1, 2 do ps[i] = mp.Process{target = function() mp.sleep(60) end}; ps[i]:start() end
            local d = mp.Process{target = function() mp.sleep(60) end, daemon = true}; d:start()
            local g = mp.Process{target = function(conn)
              local gc = mp.Process{target = function() mp.sleep(60) end}; gc:start()
              conn:send(gc.pid); gc:join()
            end, args = {b}}
            g:start()
            print(ps[1].pid, ps[2].pid, d.pid, g.pid, a:recv())
            io.stdout:flush()
            mp.sleep(60)
            """)
        let line = try #require(host.readLine(), "no pids: \(host.stderr)")
        let pids = line.split(separator: "\t").compactMap { Int32($0) }
        #expect(pids.count == 5)
        #expect(survivors(of: pids, within: 0).count == 5)
        kill(host.pid, SIGKILL)
        #expect(host.waitForExit(timeout: 5) != nil)
        let left = survivors(of: pids, within: 1)
        #expect(left.isEmpty, "still alive after the host was killed: \(left)")
    }

    @Test(arguments: ["join", "sleep", "busy", "recv", "poll"])
    func ctrlCStopsTheHostAndEveryChild(hostWaitsIn: String) throws {
        let wait = switch hostWaitsIn {
        case "join": "for _, p in ipairs(ps) do p:join() end"
        case "sleep": "mp.sleep(60)"
        case "recv": "local a, b = mp.Pipe(); a:recv()"
        case "poll": "local a, b = mp.Pipe(); a:poll(60)"
        default: "local t0 = os.time(); while os.time() - t0 < 60 do end"
        }
        let host = try GroupedForklift("""
            local mp = require "multiprocessing"
            local ps = {}
            for i = 1, 2 do ps[i] = mp.Process{target = function() mp.sleep(60) end}; ps[i]:start() end
            print(ps[1].pid, ps[2].pid)
            io.stdout:flush()
            \(wait)
            print("not interrupted")
            """)
        let line = try #require(host.readLine(), "no pids: \(host.stderr)")
        let pids = line.split(separator: "\t").compactMap { Int32($0) }
        #expect(pids.count == 2)
        usleep(100_000)  // let the host reach its wait
        kill(-host.pid, SIGINT)
        let status = try #require(host.waitForExit(timeout: 3), "the host is still running after Ctrl-C")
        #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 1, "wait status \(status)")
        #expect(host.stderr.contains("interrupted!"), "\(host.stderr)")
        #expect(host.readLine(timeout: 0.1) == nil)
        let left = survivors(of: pids, within: 1)
        #expect(left.isEmpty, "still alive after Ctrl-C: \(left)")
    }

    @Test func aMultithreadedHostNeverForksItself() throws {
        let dir = try Forklift.temporaryDirectory()
        let source = dir.appendingPathComponent("spawnthread.c")
        let library = dir.appendingPathComponent("spawnthread.so")
        try """
            #include <pthread.h>
            #include <unistd.h>
            #include "lua.h"
            #include "lauxlib.h"
            static void *idle(void *arg) { (void)arg; for (;;) pause(); return 0; }
            int luaopen_spawnthread(lua_State *L) {
                pthread_t t;
                if (pthread_create(&t, 0, idle, 0) != 0) return luaL_error(L, "pthread_create failed");
                pthread_detach(t);
                lua_pushboolean(L, 1);
                return 1;
            }
            """.write(to: source, atomically: true, encoding: .utf8)
        let cc = Process()
        cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        cc.arguments = ["cc", "-shared", "-fPIC", "-I/usr/include/lua5.4", "-o", library.path, source.path, "-lpthread"]
        try cc.run()
        cc.waitUntilExit()
        try #require(cc.terminationStatus == 0, "cannot compile the test's C module")
        let r = try Forklift.runScript(Self.procHelpers + """
            local p = mp.Process{target = function() print("child ran") end}
            p:start(); p:join()
            print("single-threaded fork", p.exitcode)
            local open = assert(package.loadlib(arg[1], "luaopen_spawnthread"))
            assert(open())
            -- Threads exist now: the default start method uses the fork server instead of forking us.
            local auto = mp.Process{target = function() print("child ran") end}
            auto:start(); auto:join()
            print("fork server", auto.exitcode)
            mp.set_start_method("fork")
            local q = mp.Process{target = function() print("child ran") end}
            local ok, err = pcall(q.start, q)
            print(ok, type(err) == "table" and err.kind, q.pid)
            io.stderr:write(tostring(err), "\\n")
            """, arguments: [library.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "child ran\nsingle-threaded fork\t0\nchild ran\nfork server\t0\nfalse\tStateError\tnil\n")
        #expect(r.stderr.contains("cannot fork: this process has 2 threads"), "\(r.stderr)")
    }
}
