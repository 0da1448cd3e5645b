import Glibc
import Testing

/// Locks, semaphores, events, conditions and barriers, within one process and
/// across processes, including holders and waiters that are killed.
@Suite("locks and synchronisation", .serialized)
struct SynchronizeTests {
    static func expectOK(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try SharedValueTests.expectOK(body, sourceLocation: sourceLocation)
    }

    @Test func lockAcquireForms() throws {
        try Self.expectOK("""
            local l = mp.Lock()
            assert(not l:locked())
            assert(l:acquire() == true and l:locked())
            assert(l:acquire(false) == false)
            local t = mp.time(); assert(l:acquire(0.1) == false and mp.time() - t >= 0.09)
            assert(l:acquire(true, 0.01) == false and l:acquire{block = false} == false)
            local ok, e = pcall(l.acquire, l); assert(not ok and e.kind == "ValueError" and e.message:find("deadlock"))
            l:release(); assert(not l:locked())
            ok, e = pcall(l.release, l); assert(not ok and e.kind == "ValueError")
            assert(l:acquire(false) and l:acquire(nil, 0) == false); l:release()
            assert(l:acquire{timeout = 1}); l:release()
            -- Huge time-outs are forever, not an overflow.
            assert(l:acquire(math.huge))
            local ok, e = pcall(l.acquire, l, 1e300); assert(not ok and e.message:find("deadlock"))
            l:release()
            assert(mp.Event():wait(0.01) == false)
            local ev = mp.Event(); ev:set(); assert(ev:wait(math.huge) and ev:wait(1e300))
            assert(mp.Semaphore(1):acquire(true, math.huge))
            ok, e = pcall(l.acquire, l, "x"); assert(not ok and e.kind == "ValueError")
            ok, e = pcall(l.acquire, l, true, "x"); assert(not ok and e.kind == "ValueError")
            ok, e = pcall(l.acquire, {}); assert(not ok and e.kind == "ValueError")
            assert(tostring(l):find("Lock"))
            do
              assert(l:acquire())
              local _ <close> = l
            end
            assert(not l:locked())
            """)
    }

    @Test func descriptionsFollowCPython() throws {
        let r = try Forklift.runScript("""
            local mp = require 'multiprocessing'
            local l, r = mp.Lock(), mp.RLock()
            print(l, r); l:acquire(); r:acquire(); r:acquire(); print(l, r)
            local p = mp.Process{target = function() print(l, r) end, name = "Child"}
            p:start(); p:join()
            local q = mp.Process{target = function() local k = mp.Lock(); k:acquire(); print(k) end, name = "Child"}
            q:start(); q:join()
            print(mp.Semaphore(2), mp.BoundedSemaphore(3), mp.Event(), mp.Condition(), mp.Barrier(3))
            """)
        #expect(r.stdout == """
            <Lock(owner=None)>	<RLock(None, 0)>
            <Lock(owner=MainProcess)>	<RLock(MainProcess, 2)>
            <Lock(owner=SomeOtherProcess)>	<RLock(SomeOtherProcess, nonzero)>
            <Lock(owner=Child)>
            <Semaphore(value=2)>	<BoundedSemaphore(value=3, maxvalue=3)>	<Event(unset)>	<Condition(<RLock(None, 0)>, 0)>	<Barrier(parties=3, n_waiting=0)>

            """, "\(r.stderr)")
    }

    @Test func withReleasesOnErrorAndPassesResults() throws {
        try Self.expectOK("""
            for _, lock in ipairs({mp.Lock(), mp.RLock(), mp.Semaphore(1), mp.Condition()}) do
              local a, b, c = lock:with(function(x, y) return x + y, "two", nil end, 1, 2)
              assert(a == 3 and b == "two" and c == nil)
              local err = {code = 7}
              local ok, e = pcall(lock.with, lock, function() error(err) end)
              assert(not ok and e == err, tostring(e))
              ok, e = pcall(lock.with, lock, function() error("boom") end)
              assert(not ok and e:find("boom"))
              assert(lock:acquire(false), "released after the error"); lock:release()
            end
            """)
    }

    @Test func rlockReentersAndOnlyItsOwnerReleases() throws {
        try Self.expectOK("""
            local r = mp.RLock()
            assert(r:acquire() and r:acquire() and r:acquire(false))
            r:release(); r:release(); assert(r:locked()); r:release(); assert(not r:locked())
            local ok, e = pcall(r.release, r); assert(not ok and e.kind == "ValueError")
            -- Another process can neither acquire it nor release it while we hold it.
            r:acquire(); r:acquire()
            local p = mp.Process{target = function()
              assert(r:acquire(false) == false)
              assert(r:acquire(0.05) == false)
              local ok, e = pcall(r.release, r)
              assert(not ok and e.kind == "ValueError" and e.message:find("another"))
            end}
            p:start(); p:join(); assert(p.exitcode == 0)
            r:release(); r:release()
            p = mp.Process{target = function() assert(r:acquire(false)); r:acquire(); r:release(); r:release() end}
            p:start(); p:join(); assert(p.exitcode == 0)
            """)
    }

    @Test func semaphoresCountAcrossProcesses() throws {
        try Self.expectOK("""
            local s = mp.Semaphore(2)
            assert(s:get_value() == 2 and s:acquire() and s:acquire() and not s:acquire(false))
            assert(s:acquire(0.02) == false and s:get_value() == 0)
            s:release(); s:release(3); assert(s:get_value() == 4)
            local ok, e = pcall(mp.Semaphore, -1); assert(not ok and e.kind == "ValueError")
            local b = mp.BoundedSemaphore(2)
            ok, e = pcall(b.release, b); assert(not ok and e.kind == "ValueError")
            assert(b:acquire()); b:release(); assert(b:get_value() == 2)
            local zero = mp.BoundedSemaphore(0); assert(not pcall(zero.release, zero))
            -- At most 2 of 5 processes inside at once; all get in eventually.
            local gate, inside, most, done = mp.Semaphore(2), mp.Value("i", 0), mp.Value("i", 0), mp.Value("i", 0)
            local function worker()
              gate:with(function()
                local n = inside:add(1)
                most:get_lock():with(function() if n > most.value then most.value = n end end)
                mp.sleep(0.02)
                inside:add(-1)
              end)
              done:add(1)
            end
            local ps = {}
            for i = 1, 5 do ps[i] = mp.Process{target = worker}; ps[i]:start() end
            for i = 1, 5 do ps[i]:join(); assert(ps[i].exitcode == 0) end
            assert(done.value == 5 and most.value == 2, "most inside: " .. most.value)
            assert(gate:get_value() == 2)
            -- A blocked acquire wakes when another process releases.
            local sem = mp.Semaphore(0)
            local p = mp.Process{target = function() mp.sleep(0.05); sem:release() end}
            p:start()
            local t = mp.time(); assert(sem:acquire(10)); assert(mp.time() - t < 5)
            p:join()
            """)
    }

    @Test func eventsWakeWaitersInOtherProcesses() throws {
        try Self.expectOK("""
            local e, seen = mp.Event(), mp.Value("i", 0)
            assert(not e:is_set() and e:wait(0.01) == false and e:wait(-1) == false)
            local ps = {}
            for i = 1, 3 do
              ps[i] = mp.Process{target = function() assert(e:wait(10)); seen:add(1) end}
              ps[i]:start()
            end
            mp.sleep(0.05); assert(seen.value == 0)
            e:set()
            for i = 1, 3 do ps[i]:join(); assert(ps[i].exitcode == 0) end
            assert(seen.value == 3 and e:is_set() and e:wait() == true and e:wait(0) == true)
            e:clear(); assert(not e:is_set())
            local p = mp.Process{target = function() mp.sleep(0.05); e:set() end}
            p:start(); assert(e:wait(10)); p:join()
            assert(tostring(e):find("Event"))
            """)
    }

    @Test func conditionNotifyWakesOneAtATime() throws {
        try Self.expectOK("""
            local c, sleeping, woken = mp.Condition(), mp.Value("i", 0), mp.Value("i", 0)
            local function f()
              c:acquire(); sleeping:add(1)
              local ok = c:wait(10)
              woken:add(1); c:release()
              assert(ok)
            end
            local ps = {}
            for i = 1, 3 do ps[i] = mp.Process{target = f}; ps[i]:start() end
            while sleeping.value < 3 do mp.sleep(0.005) end
            mp.sleep(0.05); assert(woken.value == 0)
            for expected = 1, 2 do
              c:with(function() c:notify() end)
              local t = mp.time()
              while woken.value < expected and mp.time() - t < 5 do mp.sleep(0.005) end
              mp.sleep(0.05); assert(woken.value == expected, "woken " .. woken.value .. " after notify " .. expected)
            end
            c:acquire(); c:notify_all(); c:release()
            for i = 1, 3 do ps[i]:join(); assert(ps[i].exitcode == 0) end
            assert(woken.value == 3)
            -- Without the lock: errors; with it, a time-out returns false.
            local ok, e = pcall(c.wait, c); assert(not ok and e.kind == "ValueError")
            ok, e = pcall(c.notify, c); assert(not ok and e.kind == "ValueError")
            c:acquire(); local t = mp.time(); assert(c:wait(0.05) == false and mp.time() - t >= 0.04)
            c:notify(); c:notify_all(); c:notify(0); c:release()
            -- An RLock held twice is fully released while waiting and restored after.
            local r = mp.RLock(); local c2 = mp.Condition(r)
            r:acquire(); r:acquire(); assert(c2:wait(0.01) == false); r:release(); assert(r:locked()); r:release()
            ok, e = pcall(mp.Condition, 5); assert(not ok and e.kind == "ValueError")
            -- A plain Lock works as the condition's lock too.
            local c3 = mp.Condition(mp.Lock()); c3:acquire(); assert(c3:wait(0) == false); c3:release()
            """)
    }

    @Test func conditionWaitForPredicate() throws {
        try Self.expectOK("""
            local c, n = mp.Condition(), mp.Value("i", 0)
            local p = mp.Process{target = function()
              for _ = 1, 5 do mp.sleep(0.01); c:with(function() n.value = n.value + 1; c:notify_all() end) end
            end}
            p:start()
            c:acquire()
            local r = c:wait_for(function() return n.value >= 5 and "reached" end, 10)
            c:release(); assert(r == "reached", tostring(r))
            p:join()
            c:acquire()
            local t = mp.time()
            assert(c:wait_for(function() return false end, 0.05) == false and mp.time() - t >= 0.04)
            local ok, e = pcall(c.wait_for, c, function() error("pred") end)
            assert(not ok and e:find("pred"))
            c:release()
            """)
    }

    @Test func everyMethodRefusesAWrongSelfAndBadArguments() throws {
        try Self.expectOK("""
            local objects = {
              Lock = mp.Lock(), RLock = mp.RLock(), Semaphore = mp.Semaphore(), Event = mp.Event(),
              Condition = mp.Condition(), Barrier = mp.Barrier(2), Value = mp.Value("i"), Array = mp.Array("i", 2),
            }
            local methods = { "acquire", "release", "locked", "with", "get_value", "set", "clear", "is_set", "wait",
              "wait_for", "notify", "notify_all", "abort", "reset", "add", "get_lock", "get_obj", "totable", "fill" }
            local checked = 0
            for name, o in pairs(objects) do
              for _, m in ipairs(methods) do
                local f = o[m]
                if f then
                  for _, wrong in ipairs({ {}, 1, "x", io.stdout }) do
                    local ok, e = pcall(f, wrong)
                    assert(not ok and type(e) == "table" and e.kind == "ValueError", name .. ":" .. m)
                  end
                  checked = checked + 1
                end
              end
            end
            assert(checked >= 28, checked)
            -- Bad arguments.
            local s, e, c, a = objects.Semaphore, objects.Event, objects.Condition, objects.Array
            for _, bad in ipairs({
              function() s:release(0) end, function() s:release(-2) end, function() mp.Semaphore("x") end,
              function() mp.Semaphore(2^40) end, function() e:wait("x") end, function() e:wait(0/0) end,
              function() c:acquire(); local ok, err = pcall(c.notify, c, -1); c:release(); error(err) end,
              function() a:totable("x") end, function() a:totable(1, "y") end, function() mp.Barrier(2^40) end,
              function() mp.Barrier(2, nil, "x") end, function() mp.Array("i", "x") end, function() mp.Value() end,
            }) do
              local ok, err = pcall(bad)
              assert(not ok and type(err) == "table" and err.kind == "ValueError", tostring(err))
            end
            -- An action that waits on its own barrier.
            local b; b = mp.Barrier(1, function() b:wait() end)
            local ok, err = pcall(b.wait, b)
            assert(not ok and err.kind == "ValueError" and err.message:find("own action"), tostring(err))
            """)
    }

    @Test func aHandleToAnObjectThatNoLongerExistsIsRefused() throws {
        try Self.expectOK("""
            -- A handle is (offset, generation); the generation is its last 4 bytes.
            -- Another generation at the same offset is what a freed and reused block looks like.
            local v = mp.Value("i", 5)
            local bytes = mp._encode(v)
            local generation = string.unpack("<I4", bytes, #bytes - 3)
            local stale = bytes:sub(1, -5) .. string.pack("<I4", (generation + 1) % 2^32)
            local ok, e = pcall(mp._decode, stale)
            assert(not ok and tostring(e):find("no longer exists"), tostring(e))
            -- The live one decodes to the same object.
            local v2 = mp._decode(bytes)
            assert(v2 == v and v2.value == 5)
            -- An object sent by a process that exited before it was read is still there.
            local r, s = mp.Pipe(false)
            local p = mp.Process{target = function() s:send(mp._encode(mp.Value("i", 6), mp.Array("d", 3))) end}
            p:start()
            local sent = r:recv()
            p:join(); assert(p.exitcode == 0)
            local w, a = mp._decode(sent)
            assert(w.value == 6 and #a == 3)
            """)
    }

    @Test func barrierReleasesAllWithDistinctIndices() throws {
        try Self.expectOK("""
            local b, seen, actions = mp.Barrier(4, function() end), mp.Array("i", 4), mp.Value("i", 0)
            local b2 = mp.Barrier{parties = 4, action = function() actions:add(1) end}
            assert(b.parties == 4 and b.n_waiting == 0 and b.broken == false)
            local ps = {}
            for i = 1, 3 do
              ps[i] = mp.Process{target = function()
                for round = 1, 3 do local k = b:wait(10); seen[k] = seen[k] + 1 end
                b2:wait(10)
              end}
              ps[i]:start()
            end
            for round = 1, 3 do local k = b:wait(10); seen[k] = seen[k] + 1 end
            b2:wait(10)
            for i = 1, 3 do ps[i]:join(); assert(ps[i].exitcode == 0) end
            assert(table.concat(seen:totable(), ",") == "3,3,3,3", table.concat(seen:totable(), ","))
            assert(actions.value == 1)
            """)
    }

    @Test func barrierTimeoutAbortAndReset() throws {
        try Self.expectOK("""
            local b = mp.Barrier(3)
            local p = mp.Process{target = function()
              local ok, e = pcall(b.wait, b)
              assert(not ok and e.kind == "Timeout" and e.broken, tostring(e))
            end}
            p:start()
            while b.n_waiting < 1 do mp.sleep(0.005) end
            local t = mp.time()
            local ok, e = pcall(b.wait, b, 0.05)
            assert(not ok and e.kind == "Timeout" and mp.time() - t >= 0.04)
            p:join(); assert(p.exitcode == 0)
            assert(b.broken)
            ok, e = pcall(b.wait, b, 1); assert(not ok and e.kind == "Timeout")
            b:reset(); assert(not b.broken and b.n_waiting == 0)
            -- abort wakes a waiter with the error.
            p = mp.Process{target = function() local ok, e = pcall(b.wait, b, 10); assert(not ok and e.kind == "Timeout") end}
            p:start()
            while b.n_waiting < 1 do mp.sleep(0.005) end
            b:abort(); p:join(); assert(p.exitcode == 0 and b.broken)
            b:reset()
            -- reset with a waiter: it sees the barrier broken; the barrier works afterwards.
            p = mp.Process{target = function() local ok, e = pcall(b.wait, b, 10); assert(not ok and e.kind == "Timeout") end}
            p:start()
            while b.n_waiting < 1 do mp.sleep(0.005) end
            b:reset(); p:join(); assert(p.exitcode == 0 and not b.broken)
            local one = mp.Barrier(1); assert(one:wait() == 1 and one:wait() == 1)
            -- A default time-out from the constructor.
            local d = mp.Barrier(2, nil, 0.02)
            ok, e = pcall(d.wait, d); assert(not ok and e.kind == "Timeout")
            -- A failing action breaks the barrier and raises in the last party.
            local bad = mp.Barrier(1, function() error("action failed") end)
            ok, e = pcall(bad.wait, bad); assert(not ok and tostring(e):find("action failed") and bad.broken)
            ok, e = pcall(mp.Barrier, 0); assert(not ok and e.kind == "ValueError")
            ok, e = pcall(mp.Barrier, 2, 5); assert(not ok and e.kind == "ValueError")
            assert(tostring(mp.Barrier(2)):find("Barrier"))
            """)
    }

    @Test func lockWhoseHolderIsKilledIsRecovered() throws {
        let r = try Forklift.runScript("""
            local mp = require 'multiprocessing'
            for _, lock in ipairs({mp.Lock(), mp.RLock()}) do
              local held = mp.Event()
              local p = mp.Process{target = function() lock:acquire(); held:set(); mp.sleep(60) end}
              p:start()
              assert(held:wait(10))
              assert(lock:acquire(false) == false)
              p:kill(); p:join()
              print(p.exitcode, lock:acquire(5), lock:locked())
              lock:release()
              assert(lock:acquire(false)); lock:release()
            end
            -- The lock of a Value, recovered by a plain access.
            local v = mp.Value("i", 0)
            local held = mp.Event()
            local p = mp.Process{target = function() v:get_lock():acquire(); held:set(); mp.sleep(60) end}
            p:start(); assert(held:wait(10)); p:kill(); p:join()
            v.value = 5
            print(v.value)
            """)
        #expect(r.status == 0, "stderr: \(r.stderr)")
        #expect(r.stdout == "-9\ttrue\ttrue\n-9\ttrue\ttrue\n5\n")
        #expect(r.stderr.components(separatedBy: "previous owner died").count == 4, "stderr: \(r.stderr)")
    }

    @Test func waitersKilledWhileWaitingDoNotBreakOthers() throws {
        try Self.expectOK("""
            local e, c, s, woken = mp.Event(), mp.Condition(), mp.Semaphore(0), mp.Value("i", 0)
            local function victim()
              local which = math.random(3)
              c:acquire(); c:wait(60)
            end
            local doomed = {}
            for i = 1, 2 do
              doomed[#doomed + 1] = mp.Process{target = function() e:wait(60) end}
              doomed[#doomed + 1] = mp.Process{target = function() c:acquire(); c:wait(60) end}
              doomed[#doomed + 1] = mp.Process{target = function() s:acquire(60) end}
            end
            for _, p in ipairs(doomed) do p:start() end
            mp.sleep(0.1)
            for _, p in ipairs(doomed) do p:kill() end
            for _, p in ipairs(doomed) do p:join() end
            local live = {
              mp.Process{target = function() assert(e:wait(10)); woken:add(1) end},
              mp.Process{target = function() c:acquire(); local ok = c:wait(10); c:release(); assert(ok); woken:add(1) end},
              mp.Process{target = function() assert(s:acquire(10)); woken:add(1) end},
            }
            for _, p in ipairs(live) do p:start() end
            mp.sleep(0.1)
            e:set(); s:release()
            -- notify_all reaches the live waiter whatever the dead ones left behind.
            c:with(function() c:notify_all() end)
            for _, p in ipairs(live) do p:join(); assert(p.exitcode == 0) end
            assert(woken.value == 3)
            assert(c:acquire(1)); c:release()
            """)
    }
}

@Suite("Ctrl-C during shared-memory waits", .serialized)
struct SharedWaitInterruptTests {
    @Test(arguments: [
        "lock:acquire()", "lock:with(function() end)", "v.value = 1", "sem:acquire()", "ev:wait()",
        "cond:acquire(); cond:wait()", "bar:wait()",
    ])
    func ctrlCInterruptsABlockedWait(wait: String) throws {
        let host = try GroupedForklift("""
            local mp = require "multiprocessing"
            local lock, sem, ev, cond, bar = mp.Lock(), mp.Semaphore(0), mp.Event(), mp.Condition(), mp.Barrier(2)
            local v = mp.Value("i", 0, lock)
            local held = mp.Event()
            local p = mp.Process{target = function() lock:acquire(); held:set(); mp.sleep(60) end, daemon = true}
            p:start()
            assert(held:wait(10))
            print("waiting")
            io.stdout:flush()
            \(wait)
            print("not interrupted")
            """)
        try host.expectCtrlCEndsWait(wait)
    }
}

@Suite("shared objects under every start method", .serialized)
struct SharedStartMethodTests {
    @Test(arguments: ["fork", "spawn", "forkserver"])
    func objectsWorkAndLocksRecover(method: String) throws {
        let r = try Forklift.runScript("""
            local mp = require 'multiprocessing'
            mp.set_start_method("\(method)", true)
            local v, w = mp.Value("i", 0), mp.Value("i", 0)
            local a, l, e, b = mp.Array("d", 4), mp.RLock(), mp.Event(), mp.Barrier(3)
            local c = mp.Condition(l)
            local ps = {}
            for i = 1, 2 do
              ps[i] = mp.Process{target = function(v, a, l, e, b, c, i)
                for _ = 1, 1000 do v:add(1); w:get_lock():with(function() w.value = w.value + 1 end) end
                l:with(function() a[i] = a[i] + i end)
                assert(e:wait(10))
                assert(b:wait(10) >= 1)
                c:acquire(); c:notify_all(); c:release()
              end, args = {v, a, l, e, b, c, i}}
              ps[i]:start()
            end
            e:set()
            b:wait(10)
            for i = 1, 2 do ps[i]:join() end
            print(v.value + w.value, a[1], a[2], ps[1].exitcode, ps[2].exitcode)
            -- A holder killed while holding the lock.
            local held = mp.Event()
            local p = mp.Process{target = function(l, held) l:acquire(); held:set(); mp.sleep(60) end, args = {l, held}}
            p:start(); assert(held:wait(10)); p:kill(); p:join()
            print(l:acquire(5))
            """, timeout: 60)
        #expect(r.stdout == "4000\t1.0\t2.0\t0\t0\ntrue\n", "\(r.stderr)")
        #expect(r.stderr.contains("previous owner died"))
    }
}
