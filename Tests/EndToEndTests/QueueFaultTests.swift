import Foundation
import Testing

/// The crash and end-of-data rules of docs/queues.md, run in the built `forklift`.
@Suite("Queue faults", .serialized) struct QueueFaultTests {
    func expectOK(_ body: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Forklift.runScript(
            "local mp = require \"multiprocessing\"\n" + body, timeout: 60, sourceLocation: sourceLocation)
        #expect(r.stderr == "", sourceLocation: sourceLocation)
        #expect(r.stdout == "ok\n", sourceLocation: sourceLocation)
        #expect(r.status == 0, sourceLocation: sourceLocation)
    }

    @Test func consumersKilledWhileWaitingDoNotWedgeTheQueue() throws {
        try expectOK("""
            local q, out = mp.Queue(), mp.Queue()
            local waiters = {}
            for i = 1, 3 do waiters[i] = mp.Process{target = function(q) q:get() end, args = {q}}; waiters[i]:start() end
            mp.sleep(0.2)
            for i = 1, 3 do waiters[i]:kill(); waiters[i]:join(); assert(waiters[i].exitcode == -9) end
            local live = mp.Process{target = function(q, out) out:put(q:get() + q:get()) end, args = {q, out}}
            live:start(); mp.sleep(0.1)
            q:put(20); q:put(22)
            assert(out:get(10) == 42)
            live:join()
            -- a bounded queue whose blocked producer was killed stays usable too
            local b = mp.Queue(1); b:put(0)
            local stuck = mp.Process{target = function(b) b:put(1) end, args = {b}}
            stuck:start(); mp.sleep(0.1); stuck:kill(); stuck:join()
            assert(b:get() == 0 and b:empty()); b:put(2); assert(b:get() == 2)
            print("ok")
            """)
    }

    @Test func producersKilledMidPutLeaveWholeItemsInOrder() throws {
        try expectOK("""
            local MiB = 1 << 20
            local function item(i) return string.rep(string.char(65 + i % 26), MiB - 7) .. string.format("%07d", i) end
            local bq = mp.Queue()
            local prod = mp.Process{target = function(q)
              local i = 0
              while true do i = i + 1; q:put(item(i)) end
            end, args = {bq}}
            prod:start()
            for i = 1, 3 do assert(bq:get() == item(i)) end
            mp.sleep(0.05)
            prod:kill(); prod:join()
            local last = 3
            while not bq:empty() do last = last + 1; assert(bq:get() == item(last)) end
            bq:put("still works"); assert(bq:get() == "still works")
            local sq = mp.Queue()
            prod = mp.Process{target = function(q) local i = 0; while true do i = i + 1; q:put(i) end end, args = {sq}}
            prod:start(); mp.sleep(0.05); prod:kill(); prod:join()
            local n = 0
            while not sq:empty() do n = n + 1; assert(sq:get() == n) end
            assert(n > 0)
            sq:put("ok"); assert(sq:get() == "ok")
            print("ok")
            """)
    }

    /// A process dying while it holds the queue's lock, at each point that
    /// matters: the next locker repairs the queue from what was committed.
    @Test func deathInsideTheLockIsRepairedByTheNextProcess() throws {
        try expectOK("""
            local function run(stage, prefill, value)
              local q = mp.Queue()
              for i = 1, prefill do q:put(i) end
              local p = mp.Process{target = function(q) mp._queue_die(q, stage, value) end, args = {q}}
              p:start(); p:join()
              local got = {}
              while not q:empty() do got[#got + 1] = tostring(q:get()) end
              q:put("after"); assert(q:get() == "after" and q:qsize() == 0)
              return table.concat(got, ",")
            end
            assert(run("put-uncommitted", 2, "lost") == "1,2")
            assert(run("put-committed", 2, "kept") == "1,2,kept")
            assert(run("put-linking", 2, "linked") == "1,2,linked")
            assert(run("put-linking", 0, "linked") == "linked")
            assert(run("get-uncommitted", 3) == "1,2,3")
            -- a producer killed while filling a big message's chunk (outside the lock):
            -- the item is lost and the next big put gives the chunk back
            local bq, big = mp.Queue(), string.rep("b", 100000)
            bq:put(1)
            local filler = mp.Process{target = function(q, big) mp._queue_die(q, "put-filling", big) end, args = {bq, big}}
            filler:start(); filler:join()
            assert(mp._queue_in_flight(bq) == 1 and bq:qsize() == 1)
            bq:put(big)
            assert(mp._queue_in_flight(bq) == 0 and bq:get() == 1 and bq:get() == big and bq:empty())
            -- with spare chunks in the chain
            local q = mp.Queue()
            for i = 1, 20000 do q:put(string.rep("y", 10)) end
            while not q:empty() do q:get() end
            local p = mp.Process{target = function(q) mp._queue_die(q, "put-linking", "z") end, args = {q}}
            p:start(); p:join()
            assert(q:qsize() == 1 and q:get() == "z" and not pcall(q.get_nowait, q))
            for i = 1, 30000 do q:put(i) end
            local s = 0; while not q:empty() do s = s + q:get() end
            assert(s == 30000 * 30001 // 2)
            print("ok")
            """)
    }

    @Test func aClosedQueueWithNoWriterLeftRaisesEOFInsteadOfBlocking() throws {
        try expectOK("""
            local function kind(f, ...) local ok, e = pcall(f, ...); assert(not ok); return e.kind end
            -- the writer closed and exited
            local q = mp.Queue()
            local p = mp.Process{target = function(q) for i = 1, 3 do q:put(i) end; q:close() end, args = {q}}
            p:start(); p:join()
            assert(q:get() == 1 and q:get() == 2 and q:get() == 3)
            assert(kind(q.get, q) == "EOF")
            -- timed and non-blocking gets keep Python's Empty
            assert(kind(q.get_nowait, q) == "Empty" and kind(q.get, q, 0.05) == "Empty")
            -- a writer alive keeps readers waiting; once it is killed (even unjoined) they get EOF
            local q2, ready = mp.Queue(), mp.Queue()
            local w = mp.Process{target = function(q, ready) q:put("x"); ready:put(true); while true do mp.sleep(1) end end,
              args = {q2, ready}}
            w:start(); ready:get()
            local closer = mp.Process{target = function(q) q:close() end, args = {q2}}
            closer:start(); closer:join()
            assert(q2:get() == "x")
            assert(kind(q2.get, q2, 0.2) == "Empty")
            w:kill()
            local t0 = mp.time()
            assert(kind(q2.get, q2) == "EOF" and mp.time() - t0 < 2)
            w:join()
            -- a reader already blocked is woken by the close
            local q3, out = mp.Queue(), mp.Queue()
            local r = mp.Process{target = function(q, out)
              out:put(q:get()); local ok, e = pcall(q.get, q); out:put(e.kind)
            end, args = {q3, out}}
            r:start(); mp.sleep(0.1)
            local c = mp.Process{target = function(q) q:put(1); q:close() end, args = {q3}}
            c:start(); c:join(); r:join()
            assert(out:get() == 1 and out:get() == "EOF")
            -- a writer that dropped its last object for the queue no longer counts
            local carrier, ready = mp.Queue(), mp.Queue()
            local holder = mp.Process{target = function(carrier, ready)
              local q = carrier:get()
              q:put("dropped"); q = nil
              collectgarbage(); collectgarbage()
              ready:put(true)
              mp.sleep(30)
            end, args = {carrier, ready}, daemon = true}
            holder:start()
            local q5 = mp.Queue()  -- made after the fork: the holder's only object for it comes by message
            carrier:put(q5); ready:get(10)
            local closer5 = mp.Process{target = function(q) q:close() end, args = {q5}}
            closer5:start(); closer5:join()
            assert(q5:get() == "dropped" and kind(q5.get, q5) == "EOF" and holder:is_alive())
            holder:kill(); holder:join()
            -- never closed: a reader waits as in Python (here until its timeout)
            local q4 = mp.Queue()
            mp.Process{target = function(q) q:put(1) end, args = {q4}}:start()
            assert(q4:get(5) == 1 and kind(q4.get, q4, 0.1) == "Empty")
            print("ok")
            """)
    }

    @Test func nothingIsLeftInDevShmAndNoDescriptorLeaks() throws {
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
        try expectOK("""
            local function fds()
              -- ls may list popen's own pipe before popen closes its spare end: take the least of 3
              local least, seen
              for _ = 1, 3 do
                local f = io.popen("ls /proc/" .. mp.current_process().pid .. "/fd 2>/dev/null")
                local listing = f:read("a")
                f:close()
                local n = select(2, listing:gsub("\\n", ""))
                if not least or n < least then least, seen = n, listing end
              end
              return least, seen
            end
            local start
            for round = 1, 5 do
              if round == 2 then
                -- measured after one round, so what the Process machinery keeps open does not count
                collectgarbage(); collectgarbage()
                start = fds()
              end
              local q = mp.JoinableQueue(10)
              local p = mp.Process{target = function(q) for i = 1, 100 do q:put(string.rep("x", i * 500)) end end, args = {q}}
              p:start()
              for _ = 1, 100 do q:get(); q:task_done() end
              p:join(); q:close()
            end
            local killed = mp.Process{target = function(q) while true do q:put(1) end end, args = {mp.Queue()}}
            killed:start(); mp.sleep(0.05); killed:kill(); killed:join()
            killed = nil
            collectgarbage(); collectgarbage()  -- Process objects hold descriptors until collected
            local now, listing = fds()
            assert(now <= start, "descriptors: " .. start .. " -> " .. now .. "\\n" .. listing)
            print("ok")
            """)
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? [])
        #expect(newShmEntries(before: before, after: after).isEmpty)
    }
}

@Suite("Ctrl-C during queue waits", .serialized)
struct QueueInterruptTests {
    @Test(arguments: ["q:get()", "q:get(30)", "full:put(2)", "joinable:join()"])
    func ctrlCInterruptsABlockedWait(wait: String) throws {
        let host = try GroupedForklift("""
            local mp = require "multiprocessing"
            local q, full, joinable = mp.Queue(), mp.Queue(1), mp.JoinableQueue()
            full:put(1); joinable:put(1)
            print("waiting")
            io.stdout:flush()
            \(wait)
            print("not interrupted")
            """)
        try host.expectCtrlCEndsWait(wait)
    }
}
