import Foundation
import Testing

/// `mp.Queue`, `mp.JoinableQueue`, `mp.SimpleQueue` (docs/queues.md), run in
/// the built `forklift`.
@Suite("Queues", .serialized) struct QueueTests {
    /// Runs `body` after `local mp = require "multiprocessing"` and expects it to print `ok`.
    func expectOK(_ body: String, timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try Forklift.runScript(
            "local mp = require \"multiprocessing\"\n" + body, timeout: timeout, sourceLocation: sourceLocation)
        #expect(r.stderr == "", sourceLocation: sourceLocation)
        #expect(r.stdout == "ok\n", sourceLocation: sourceLocation)
        #expect(r.status == 0, sourceLocation: sourceLocation)
    }

    @Test func valuesOfEveryKindInOrderIncludingNil() throws {
        try expectOK("""
            local q = mp.Queue()
            assert(q:empty() and q:qsize() == 0 and not q:full())
            local t = {1, {2}, x = "y"}; t.self = t
            local values = {1, -2^63, 2.5, 0/0, "", "bin\\0ary", true, false, t, string.rep("z", 100000), math.sqrt}
            q:put(nil)
            for i = 1, #values do q:put(values[i]) end
            q:put(nil)
            assert(q:qsize() == #values + 2 and not q:empty())
            assert(q:get() == nil)
            for i = 1, #values do
              local v = q:get()
              if type(values[i]) == "table" then assert(v.self == v and v[2][1] == 2 and v.x == "y")
              elseif values[i] ~= values[i] then assert(v ~= v)
              else assert(v == values[i] and math.type(v) == math.type(values[i]), i) end
            end
            assert(q:get() == nil and q:empty())
            q:put(); q:put_nowait()             -- a missing value is nil
            assert(q:qsize() == 2 and q:get() == nil and q:get() == nil)
            for i = 1, 100000 do q:put(i) end   -- unbounded: never blocks one process
            for i = 1, 100000 do assert(q:get() == i) end
            print("ok")
            """)
    }

    @Test func emptyFullTimeoutsAndPythonStyleArguments() throws {
        try expectOK("""
            local function kind(f, ...) local ok, e = pcall(f, ...); assert(not ok); return e.kind end
            local q = mp.Queue(2)
            assert(kind(q.get_nowait, q) == "Empty")
            assert(kind(q.get, q, false) == "Empty")
            local t0 = mp.time()
            assert(kind(q.get, q, 0.1) == "Empty" and mp.time() - t0 >= 0.1)
            assert(kind(q.get, q, true, 0.05) == "Empty")
            q:put(1); q:put_nowait(2)
            assert(q:full() and q:qsize() == 2)
            assert(kind(q.put_nowait, q, 3) == "Full")
            assert(kind(q.put, q, 3, false) == "Full")
            t0 = mp.time()
            assert(kind(q.put, q, 3, 0.1) == "Full" and mp.time() - t0 >= 0.1)
            assert(kind(q.put, q, 3, true, 0.05) == "Full")
            assert(q:get(false) == 1 and q:get(true, 1) == 2 and not q:full())
            assert(kind(q.get, q, nil, 0.05) == "Empty" and kind(q.get, q, {timeout = 0.05}) == "Empty")
            assert(kind(q.get, q, {block = false}) == "Empty" and kind(q.get, q, {timeout = -1}) == "ValueError")
            q:put(1, nil, 1); q:put(2, {block = true, timeout = 1})
            assert(kind(q.put, q, 3, {block = false}) == "Full" and kind(q.put, q, 3, nil, 0.05) == "Full")
            assert(q:get{timeout = 1} == 1 and q:get(nil, 1) == 2)
            assert(kind(q.get, q, -1) == "ValueError" and kind(q.get, q, "soon") == "ValueError")
            assert(kind(q.put, q, 1, -1) == "ValueError")
            assert(kind(mp.Queue, "big") == "ValueError" and kind(mp.Queue, 1.5) == "ValueError")
            assert(kind(q.put, q, coroutine.create(print)) == "NotSendable")
            assert(kind(q.get, {}) == "ValueError")
            assert(mp.Queue{maxsize = 1}:put(1) == nil)
            local e = select(2, pcall(q.get_nowait, q))
            assert(tostring(e) == "Empty: queue is empty", tostring(e))
            print("ok")
            """)
    }

    @Test func closeIsPerObjectAndLaterUseIsAStateError() throws {
        try expectOK("""
            local function kind(f, ...) local ok, e = pcall(f, ...); assert(not ok); return e.kind end
            for _, make in ipairs{mp.Queue, mp.JoinableQueue, mp.SimpleQueue} do
              local q = make()
              q:put(1)
              q:close(); q:close()
              assert(kind(q.put, q, 1) == "StateError" and kind(q.get, q) == "StateError")
              assert(kind(q.empty, q) == "StateError")
              assert(tostring(q):find("closed"))
            end
            do local q <close> = mp.Queue() end
            print("ok")
            """)
    }

    @Test func joinableQueueTaskDoneAndJoin() throws {
        try expectOK("""
            local q = mp.JoinableQueue()
            assert(q:join() == true)
            local ok, e = pcall(q.task_done, q)
            assert(not ok and e.kind == "ValueError" and e.message:find("too many"))
            local function worker(q, out)
              while true do
                local v = q:get()
                if v == nil then q:task_done(); return end
                out:put(v * 2); q:task_done()
              end
            end
            local out = mp.Queue()
            local ps = {}
            for i = 1, 2 do ps[i] = mp.Process{target = worker, args = {q, out}}; ps[i]:start() end
            for i = 1, 100 do q:put(i) end
            assert(q:join() == true)
            local sum = 0
            for _ = 1, 100 do sum = sum + out:get() end
            assert(sum == 10100)
            q:put(nil); q:put(nil)
            for _, p in ipairs(ps) do p:join() end
            assert(q:join(1) == true)
            q:put("pending")
            local t0 = mp.time()
            assert(q:join(0.1) == false and mp.time() - t0 >= 0.1)
            q:get(); q:task_done()
            assert(q:join(0) == true)
            print("ok")
            """)
    }

    @Test func simpleQueueHasTheMinimalAPI() throws {
        try expectOK("""
            local q = mp.SimpleQueue()
            assert(q:empty())
            q:put(nil); q:put({1, 2})
            assert(not q:empty() and q:get() == nil and q:get()[2] == 2 and q:empty())
            assert(q.put_nowait == nil and q.qsize == nil and q.task_done == nil)
            local p = mp.Process{target = function(q) for i = 1, 1000 do q:put(i) end end, args = {q}}
            p:start()
            local s = 0
            for _ = 1, 1000 do s = s + q:get() end
            p:join()
            assert(s == 500500)
            print("ok")
            """)
    }

    @Test func joinedProducersItemsAreAllVisible() throws {
        try expectOK("""
            for round = 1, 20 do
              local q = mp.Queue()
              local p = mp.Process{target = function(q, n) for i = 1, n do q:put(i) end end, args = {q, 500 + round}}
              p:start(); p:join()
              local got = 0
              while not q:empty() do got = got + 1; assert(q:get() == got) end
              assert(got == 500 + round, got)
            end
            print("ok")
            """)
    }

    @Test func manyProducersAndConsumersGetEveryItemExactlyOnce() throws {
        try expectOK("""
            local P, C, N = 3, 3, 20000
            local q, results = mp.Queue(64), mp.Queue()
            local function produce(q, id, n)
              for i = 1, n do
                if i % 1000 == 0 then q:put(string.rep("b", 20000 + i) .. "|" .. id * 1000000 + i)
                else q:put(id * 1000000 + i) end
              end
            end
            local function consume(q, results)
              local count, sum, sq = 0, 0, 0
              while true do
                local v = q:get()
                if v == nil then break end
                if type(v) == "string" then v = tonumber(v:match("|(%d+)$")) end
                count = count + 1; sum = sum + v; sq = sq + (v % 7919) ^ 2
              end
              results:put({count, sum, sq})
            end
            local ps, cs = {}, {}
            for c = 1, C do cs[c] = mp.Process{target = consume, args = {q, results}}; cs[c]:start() end
            for p = 1, P do ps[p] = mp.Process{target = produce, args = {q, p, N}}; ps[p]:start() end
            for _, p in ipairs(ps) do p:join(); assert(p.exitcode == 0) end
            for _ = 1, C do q:put(nil) end
            local count, sum, sq = 0, 0, 0
            for _ = 1, C do local r = results:get(); count = count + r[1]; sum = sum + r[2]; sq = sq + r[3] end
            for _, c in ipairs(cs) do c:join(); assert(c.exitcode == 0) end
            local esum, esq = 0, 0
            for p = 1, P do for i = 1, N do local v = p * 1000000 + i; esum = esum + v; esq = esq + (v % 7919) ^ 2 end end
            assert(count == P * N and sum == esum and sq == esq, count)
            assert(q:empty() and results:empty())
            print("ok")
            """)
    }

    @Test func maxsizeBlocksProducersUntilConsumersMakeRoom() throws {
        try expectOK("""
            local q, progress = mp.Queue(3), mp.Queue()
            local p = mp.Process{target = function(q, progress)
              for i = 1, 10 do q:put(i); progress:put(i) end
            end, args = {q, progress}}
            p:start()
            mp.sleep(0.3)
            assert(q:qsize() == 3 and q:full() and progress:qsize() == 3, q:qsize())
            for i = 1, 10 do assert(q:get(5) == i) end
            p:join()
            assert(progress:qsize() == 10)
            print("ok")
            """)
    }

    @Test func handlesCrossAsProcessArgumentsInMessagesThroughPipesAndToPools() throws {
        try expectOK("""
            local q, carrier, j = mp.Queue(), mp.Queue(), mp.JoinableQueue()
            local a, b = mp.Pipe()
            -- 1. a Process argument, 2. inside a message on another queue, 3. through a pipe
            local p = mp.Process{target = function(carrier, conn)
              local msg = carrier:get()
              msg.queue:put("via queue message")
              local viaPipe = conn:recv()
              viaPipe:put("via pipe")
            end, args = {carrier, b}}
            p:start()
            carrier:put({queue = q})
            a:send(j)
            assert(q:get(10) == "via queue message")
            assert(j:get(10) == "via pipe")
            j:task_done()
            assert(j:join(10))
            p:join()
            assert(p.exitcode == 0)
            -- a handle that comes back is the same queue
            carrier:put(q)
            local back = carrier:get()
            assert(back == q and rawequal(back, q) == false)
            back:put(7); assert(q:get() == 7)
            -- the kind is kept
            carrier:put(j); assert(tostring(carrier:get()):find("^JoinableQueue"))
            -- objects made in a worker that has exited before they are got: the queue kept them alive
            local maker = mp.Process{target = function(carrier)
              local made = mp.JoinableQueue(5)
              for i = 1, 3 do made:put(i * 2) end
              carrier:put({made, mp.Value("q", 99), string.rep("z", 50000)})  -- a big message too
              carrier:put(mp.Lock())
            end, args = {carrier}}
            maker:start(); maker:join()
            collectgarbage(); collectgarbage()
            local got = carrier:get(10)
            local made = got[1]
            assert(got[2].value == 99 and #got[3] == 50000 and carrier:get(10):acquire(1))
            assert(made:qsize() == 3 and made:get() + made:get() + made:get() == 12)
            for _ = 1, 3 do made:task_done() end
            assert(made:join(1))
            -- 4. pool initargs, and pool task arguments
            local pool = mp.Pool{processes = 2, initializer = function(q) _G.results = q end, initargs = {q}}
            pool:map(function(x) results:put(x * 10); return x end, {1, 2, 3, 4})
            local s = 0
            for _ = 1, 4 do s = s + q:get(10) end
            assert(s == 100)
            pool:apply(function(q, v) q:put(v) end, q, "task argument")
            assert(q:get(10) == "task argument")
            pool:close(); pool:join()
            print("ok")
            """)
    }

    /// Decoding allocates, allocating runs the collector, and finalizers may
    /// use queues: a `get` inside a finalizer must not disturb the `get`
    /// whose message is being decoded.
    @Test func aGetFromAFinalizerDuringDecodingLeavesTheOuterGetIntact() throws {
        try expectOK("""
            local q, side = mp.Queue(), mp.Queue()
            collectgarbage("incremental", 1, 1000)  -- finalizers run during the decoder's allocations
            local ran = 0
            for round = 1, 100 do
              local t = {}
              for i = 1, 300 do t[i] = {i, tostring(i)} end
              q:put(t)
              for _ = 1, 50 do
                setmetatable({}, {__gc = function()
                  side:put(string.rep("s", 300)); assert(#side:get() == 300); ran = ran + 1
                end})
              end
              local back = q:get()
              for i = 1, 300 do assert(back[i][1] == i and back[i][2] == tostring(i)) end
            end
            assert(ran > 0)
            print("ok")
            """)
    }

    @Test func theSeedExampleRuns() throws {
        let r = try Forklift.run([Forklift.packageRoot.appendingPathComponent("scripts/examples/queue.lua").path])
        #expect(r.status == 0)
        #expect(r.stderr == "")
        #expect(r.stdout == "squares: 1 4 9 16 25 36 49 64 81 100\n6 words, 27 letters, all tasks done: true\n")
    }
}

@Suite("Queues under every start method", .serialized)
struct QueueStartMethodTests {
    @Test(arguments: ["fork", "spawn", "forkserver"])
    func producersConsumersAndTheEOFRuleWork(method: String) throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            mp.set_start_method("\(method)", true)
            local q, out, started = mp.Queue(8), mp.JoinableQueue(), mp.Barrier(2)
            -- both producers put once before either can finish: writers count from their first put
            local function produce(q, n, started) q:put(1); started:wait(30); for i = 2, n do q:put(i) end; q:close() end
            local function consume(q, out)
              local s = 0
              while true do
                local ok, v = pcall(q.get, q)
                if not ok then assert(v.kind == "EOF", tostring(v)); break end
                s = s + v
              end
              out:put(s)
            end
            local ps = {mp.Process{target = produce, args = {q, 3000, started}}, mp.Process{target = produce, args = {q, 2000, started}},
                        mp.Process{target = consume, args = {q, out}}, mp.Process{target = consume, args = {q, out}}}
            for _, p in ipairs(ps) do p:start() end
            local total = out:get(30) + out:get(30)
            for _, p in ipairs(ps) do p:join(); assert(p.exitcode == 0) end
            print(total == 3000 * 3001 // 2 + 2000 * 2001 // 2)
            """, timeout: 60)
        #expect(r.stderr == "")
        #expect(r.stdout == "true\n")
    }
}
