import Foundation
import Testing

/// `mp.Process` from start to reaping, as API.md §2 "Processes" describes it.
@Suite("mp.Process lifecycle", .serialized)
struct ProcessLifecycleTests {
    @Test func exitcodesAfterEveryKindOfEnd() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local function ended(target)
              local p = mp.Process{target = target}
              p:start(); assert(p:join() == true)
              return p.exitcode
            end
            print("ok", ended(function() end))
            print("error", ended(function() error("boom") end))
            print("error table", ended(function() error({}) end))
            print("os.exit(7)", ended(function() os.exit(7) end))
            print("os.exit(true)", ended(function() os.exit(true) end))
            print("os.exit(false)", ended(function() os.exit(false) end))
            local s = mp.Process{target = function() mp.sleep(30) end}
            assert(s.exitcode == nil)
            s:start(); assert(s.exitcode == nil)
            s:terminate(); s:join()
            print("terminate", s.exitcode)
            local k = mp.Process{target = function() mp.sleep(30) end}
            k:start(); k:kill(); k:join()
            print("kill", k.exitcode)
            -- Signalling a reaped process is harmless.
            k:terminate(); k:kill()
            print("after", k.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            ok\t0
            error\t1
            error table\t1
            os.exit(7)\t7
            os.exit(true)\t0
            os.exit(false)\t1
            terminate\t-15
            kill\t-9
            after\t-9

            """)
    }

    @Test func joinWithTimeoutOnASleepingChild() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local p = mp.Process{target = function() mp.sleep(1.0) end}
            p:start()
            local t0 = mp.time()
            local first = p:join(0.15)
            local waited = mp.time() - t0
            print("first", first, p:is_alive(), p.exitcode)
            assert(waited >= 0.14 and waited < 0.9, "join(0.15) took " .. waited)
            print("zero", p:join(0))
            print("second", p:join(10), p:is_alive(), p.exitcode)
            assert(mp.time() - t0 < 5)
            print("again", p:join(), p:join(0.1))
            local q = mp.Process{target = function() end}
            q:start()
            print("huge", q:join(1e300), q:join(math.huge), pcall(mp.sleep, 0/0))
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            first\tfalse\ttrue\tnil
            zero\tfalse
            second\ttrue\tfalse\t0
            again\ttrue\ttrue
            huge\ttrue\ttrue\tfalse\tbad argument #1 to 'sleep' (not a number)

            """)
    }

    @Test func pidNameAndDaemonDefaults() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a = mp.Process{target = function() end}
            local b = mp.Process{target = function() end, name = "worker", daemon = true}
            print(a.name, a.daemon, a.pid, a:is_alive())
            print(b.name, b.daemon)
            a:start(); b:start()
            assert(math.type(a.pid) == "integer" and a.pid > 0 and a.pid ~= b.pid)
            assert(a.pid ~= mp.current_process().pid)
            a:join(); b:join()
            print(mp.Process{target = print}.name, tostring(a):match("^<Process name='Process%-1' stopped exitcode=0>$") ~= nil)
            local c = mp.current_process()
            print(c.name, c.pid == mp._getpid(), mp.parent_process())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            Process-1\tfalse\tnil\tfalse
            worker\ttrue
            Process-3\ttrue
            MainProcess\ttrue\tnil

            """)
    }

    @Test func childSeesItselfAndItsParentAndNamesItsOwnChildren() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local host = mp.current_process().pid
            local function grandchild()
              print("grandchild", mp.current_process().name, mp.parent_process().name)
            end
            local function child()
              local me, parent = mp.current_process(), mp.parent_process()
              print("child", me.name, me.pid == mp._getpid(), parent.name, parent.pid == host)
              print("child sees", #mp.active_children())
              local g = mp.Process{target = grandchild}
              local h = mp.Process{target = grandchild}
              print("names", g.name, h.name)
              g:start(); g:join(); h:start(); h:join()
            end
            mp.Process{target = function() end}:start()
            local p = mp.Process{target = child}
            p:start(); p:join()
            print("exit", p.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            child\tProcess-2\ttrue\tMainProcess\ttrue
            child sees\t0
            names\tProcess-2:1\tProcess-2:2
            grandchild\tProcess-2:1\tProcess-2
            grandchild\tProcess-2:2\tProcess-2
            exit\t0

            """)
    }

    @Test func currentAndParentProcessAnswerIsAlive() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local me = mp.current_process()
            print(tostring(me), me:is_alive(), me.exitcode)
            local p = mp.Process{target = function()
              local parent = mp.parent_process()
              print(tostring(parent):match("^<ParentProcess name='MainProcess' pid=%d+>$") ~= nil,
                    parent:is_alive(), parent:join(0.05), mp.current_process():is_alive())
            end}
            p:start(); p:join()
            print(p.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "<MainProcess name='MainProcess' started>\ttrue\tnil\ntrue\ttrue\tfalse\ttrue\n0\n")
    }

    @Test func activeChildrenListsOnlyRunningChildren() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            print(#mp.active_children())
            local quick = mp.Process{target = function() end}
            local slow = {}
            for i = 1, 2 do slow[i] = mp.Process{target = function() mp.sleep(0.5) end}; slow[i]:start() end
            quick:start()
            local t0 = mp.time()
            while quick:is_alive() and mp.time() - t0 < 5 do mp.sleep(0.01) end
            local active = mp.active_children()
            print(#active, active[1] == slow[1] or active[1] == slow[2])
            for _, p in ipairs(slow) do p:join() end
            print(#mp.active_children())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "0\n2\ttrue\n0\n")
    }

    @Test func misuseRaisesStateErrorAndValueError() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local function kind(f, ...)
              local ok, e = pcall(f, ...)
              assert(not ok, "expected an error")
              return type(e) == "table" and e.kind or ("not a module error: " .. tostring(e)), tostring(e)
            end
            local p = mp.Process{target = function() end}
            print(kind(p.join, p))
            print(kind(p.terminate, p))
            p:start()
            print(kind(p.start, p))
            p:join()
            print(kind(p.start, p))
            print(kind(mp.Process, 42))
            print(kind(mp.Process, {target = 42}))
            print(kind(mp.Process, {target = print, args = "x"}))
            local q = mp.Process{target = function() mp.sleep(0.1) end}
            q:start()
            print(kind(q.join, q, "soon"))
            q:join()
            -- A daemon may not have children; a child may not join itself.
            local d = mp.Process{daemon = true, target = function()
              print("daemon", kind(mp.Process{target = print}.start, mp.Process{target = print}))
              print("self", kind(mp.current_process().join, mp.current_process()))
            end}
            d:start(); d:join()
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            StateError\tStateError: can only join a started process
            StateError\tStateError: process has not been started
            StateError\tStateError: cannot start a process twice
            StateError\tStateError: cannot start a process twice
            ValueError\tValueError: Process expects a table {target=, args=, name=, daemon=}, got number
            ValueError\tValueError: Process target must be callable, got number
            ValueError\tValueError: Process args must be a table, got string
            ValueError\tValueError: join timeout must be a number of seconds, got string
            daemon\tStateError\tStateError: daemonic processes are not allowed to have children
            self\tStateError\tStateError: can only join a child process

            """)
    }

    @Test func aClosedProcessKeepsItsNameAndRefusesTheRest() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local p = mp.Process{target = function() mp.sleep(0.3) end}
            p:start()
            local ok, e = pcall(p.close, p)
            print(ok, e.kind)
            p:join(); p:close(); p:close()
            print(p.name, p.pid ~= nil, tostring(p))
            for _, m in ipairs{"start", "join", "is_alive", "terminate", "kill"} do
              local ok, e = pcall(p[m], p)
              print(m, ok, e.kind, e.message)
            end
            print(pcall(function() return p.exitcode end))
            local never = mp.Process{target = print}
            never:close()
            print(pcall(never.start, never))
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            false\tValueError
            Process-1\ttrue\t<Process name='Process-1' closed>
            start\tfalse\tValueError\tprocess object is closed
            join\tfalse\tValueError\tprocess object is closed
            is_alive\tfalse\tValueError\tprocess object is closed
            terminate\tfalse\tValueError\tprocess object is closed
            kill\tfalse\tValueError\tprocess object is closed
            false\tValueError: process object is closed
            false\tValueError: process object is closed

            """)
    }

    @Test func manyProcessesAtOnce() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local N = 100
            local ps = {}
            for i = 1, N do ps[i] = mp.Process{target = function() mp.sleep(0.01) end}; ps[i]:start() end
            for i = 1, N do assert(ps[i]:join(10)); assert(ps[i].exitcode == 0) end
            for i = 1, N do ps[i] = mp.Process{target = function() mp.sleep(30) end}; ps[i]:start() end
            print(#mp.active_children())
            for i = 1, N do ps[i]:terminate() end
            for i = 1, N do assert(ps[i]:join(10)); assert(ps[i].exitcode == -15, tostring(ps[i].exitcode)) end
            print(#mp.active_children())
            """, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "100\n0\n")
    }

    @Test func argumentsAndRunOverride() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local p = mp.Process{target = function(...) print(select("#", ...), ...) end,
                                 args = {1, nil, "three", n = 3}}
            p:start(); p:join()
            local q = mp.Process(function(a, b) print(a + b) end, {40, 2})
            q:start(); q:join()
            local r = mp.Process{}
            function r:run() print("run", self.name) end
            r:start(); r:join()
            local c = setmetatable({}, {__call = function(_, x) print("callable", x) end})
            local s = mp.Process{target = c, args = {"yes"}}
            s:start(); s:join()
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "3\t1\tnil\tthree\n42\nrun\tProcess-3\ncallable\tyes\n")
    }

    @Test func childTracebackOnStderr() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local function inner() error("bad thing") end
            local function work() inner() end
            local p = mp.Process{target = work, name = "bad"}
            p:start(); p:join()
            local q = mp.Process{target = function() error(setmetatable({}, {__tostring = function() return "custom" end})) end}
            q:start(); q:join()
            local e = mp.Process{target = function() error({}) end, name = "tbl"}
            e:start(); e:join()
            print(p.exitcode, q.exitcode, e.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "1\t1\t1\n")
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "Process bad:")
        #expect(lines.count > 4 && lines[1].hasSuffix("script.lua:2: bad thing"), "\(r.stderr)")
        #expect(lines.count > 4 && lines[2] == "stack traceback:", "\(r.stderr)")
        #expect(r.stderr.contains("in upvalue 'inner'") || r.stderr.contains("in local 'inner'") || r.stderr.contains("in function 'inner'"), "\(r.stderr)")
        #expect(!r.stderr.contains("[multiprocessing."), "runtime frames leak into the traceback: \(r.stderr)")
        #expect(r.stderr.contains("Process Process-2:\ncustom\n"), "\(r.stderr)")
        #expect(r.stderr.contains("Process tbl:\n(error object is a table value)"), "\(r.stderr)")
    }

    @Test func endOfScriptJoinsChildrenAndTerminatesDaemons() throws {
        let t0 = Date()
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local d = mp.Process{target = function() mp.sleep(30) print("daemon survived") end, daemon = true}
            d:start()
            local n = mp.Process{target = function() mp.sleep(0.4) print("non-daemon finished") end}
            n:start()
            print("daemon pid", d.pid)
            print("main done")
            """, timeout: 20)
        #expect(Date().timeIntervalSince(t0) < 10)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[1] == "main done" && lines[2] == "non-daemon finished", "\(r.stdout)")
        #expect(!r.stdout.contains("daemon survived"))
        let daemon = lines.first.flatMap { Int32($0.split(separator: "\t").last ?? "") } ?? 0
        #expect(daemon > 0)
        if daemon > 0 { #expect(ProcessTable.isGoneOrZombie(daemon)) }
    }

    @Test func endOfScriptAfterAnErrorStillJoinsChildren() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            mp.Process{target = function() mp.sleep(0.3) print("child finished") end}:start()
            error("main failed")
            """, timeout: 20)
        #expect(r.status == 1)
        #expect(r.stdout == "child finished\n")
        #expect(r.stderr.contains("main failed"))
    }

    @Test func osExitAlsoJoinsChildrenAndTerminatesDaemons() throws {
        let t0 = Date()
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local p = mp.Process{target = function()
              mp.Process{target = function() mp.sleep(0.3) print("grandchild finished") end}:start()
              os.exit(5)
            end}
            p:start(); p:join()
            print("child exit", p.exitcode)
            mp.Process{target = function() mp.sleep(30) print("daemon survived") end, daemon = true}:start()
            mp.Process{target = function() mp.sleep(0.3) print("child finished") end}:start()
            os.exit(3)
            """, timeout: 20)
        #expect(Date().timeIntervalSince(t0) < 10)
        #expect(r.status == 3, "\(r.stderr)")
        #expect(r.stdout == "grandchild finished\nchild exit\t5\nchild finished\n")
    }

    @Test func processExample() throws {
        let path = Forklift.packageRoot.appendingPathComponent("scripts/examples/process.lua").path
        let t0 = Date()
        let r = try Forklift.run([path], timeout: 30)
        let elapsed = Date().timeIntervalSince(t0)
        #expect(r.status == 0, "\(r.stderr)")
        // Two workers that sleep 2 s each run side by side.
        #expect(elapsed < 3.5, "took \(elapsed) s")
    }
}

/// What /proc says about a process.
enum ProcessTable {
    /// The state letter (R, S, Z, ...) of `pid`, or nil when it no longer exists.
    static func state(of pid: Int32) -> Character? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[close...].dropFirst(2).first
    }

    /// True when `pid` has ended (reaped, or a zombie waiting for a reaper we do not control).
    static func isGoneOrZombie(_ pid: Int32) -> Bool {
        let s = state(of: pid)
        return s == nil || s == "Z" || s == "X"
    }
}
