import Foundation
import Testing

/// Every entry of API.md §2 "Pool" (issue 4, item 1), run in a real `forklift`.
@Suite("mp.Pool API", .serialized)
struct PoolAPITests {
    @Test func constructorsAndDefaultSize() throws {
        let body = """
            local a = mp.Pool(3)
            print(tostring(a))
            a:close(); a:join()
            local b = mp.Pool{processes = 2}
            print(tostring(b))
            b:terminate()
            local c = mp.Pool()
            print(tostring(c) == string.format("<multiprocessing.Pool state=running pool_size=%d>", arg[1] and tonumber(arg[1]) or mp.cpu_count()))
            c:close(); c:join()
            for _, bad in ipairs{0, -1, 1.5, "x"} do
              local ok, e = pcall(mp.Pool, bad)
              print(ok, e.kind)
            end
            print(pcall(mp.Pool, {processes = 1, maxtasksperchild = 0}))
            print(pcall(mp.Pool, {processes = 1, initializer = 42}))
            """
        let r = try PoolTestKit.run(body)
        #expect(r.stdout == """
            <multiprocessing.Pool state=running pool_size=3>
            <multiprocessing.Pool state=running pool_size=2>
            true
            false\tValueError
            false\tValueError
            false\tValueError
            false\tValueError
            false\tValueError: maxtasksperchild must be a positive integer
            false\tValueError: initializer must be callable

            """)
        // `-w N` sets the default size.
        let w = try Forklift.runScript(
            PoolTestKit.prelude + "local p = mp.Pool(); print(tostring(p)); p:close(); p:join()", options: ["-w", "5"])
        #expect(w.stdout == "<multiprocessing.Pool state=running pool_size=5>\n", "\(w.stderr)")
    }

    @Test func mapStarmapAndImapOrdering() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            -- Later items finish first, so only ordering by index gives 1..n.
            local function slow_first(x) mp.sleep((20 - x) * 0.002) return x * 10 end
            local xs = {}
            for i = 1, 20 do xs[i] = i end
            for _, cs in ipairs{1, 3, 100} do
              local r = pool:map(slow_first, xs, {chunksize = cs})
              print("map", cs, #r, table.concat(r, ","))
            end
            print("starmap", table.concat(pool:starmap(function(a, b, c) return a .. b .. (c or "-") end,
                                                         {{"a", "b"}, {"c", "d", "e"}, {1, 2}}), " "))
            local order = {}
            for i, v in pool:imap(slow_first, xs, {chunksize = 1}) do order[#order + 1] = i .. "=" .. v end
            print("imap", table.concat(order, ","))
            local seen, count = {}, 0
            for i, v in pool:imap_unordered(slow_first, xs, {chunksize = 1}) do
              assert(v == i * 10 and not seen[i], "imap_unordered gave " .. i .. "=" .. tostring(v))
              seen[i] = true; count = count + 1
            end
            print("unordered", count)
            """)
        let ordered = (1...20).map { String($0 * 10) }.joined(separator: ",")
        let pairs = (1...20).map { "\($0)=\($0 * 10)" }.joined(separator: ",")
        #expect(r.stdout == """
            map\t1\t20\t\(ordered)
            map\t3\t20\t\(ordered)
            map\t100\t20\t\(ordered)
            starmap\tab- cde 12-
            imap\t\(pairs)
            unordered\t20

            """)
    }

    @Test func nilAndMultipleResults() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local function odd_or_nil(x) if x % 2 == 0 then return nil end return x, "second" end
            local r = pool:map(odd_or_nil, {1, 2, 3, 4, 5})
            print("map", r[1], r[2], r[3], r[4], r[5])
            print("apply", pool:apply(function(a, b) return a + b, nil, a * b end, 3, 4))
            print("apply none", select("#", pool:apply(function() end)))
            local got = {}
            for i, v in pool:imap(odd_or_nil, {1, 2, 3, 4}) do got[#got + 1] = i .. ":" .. tostring(v) end
            print("imap", table.concat(got, " "))
            local n = 0
            for i, v in pool:imap_unordered(odd_or_nil, {2, 4, 6}) do assert(v == nil); n = n + 1 end
            print("unordered nils", n)
            """)
        #expect(r.stdout == """
            map\t1\tnil\t3\tnil\t5
            apply\t7\tnil\t12
            apply none\t0
            imap\t1:1 2:nil 3:3 4:nil
            unordered nils\t3

            """)
    }

    @Test func iteratorInputIsStreamed() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local produced, n = 0, 100000
            local function gen() if produced < n then produced = produced + 1 return produced end end
            local first_at, sum, count = nil, 0, 0
            for i, v in pool:imap(function(x) return x * 2 end, gen) do
              first_at = first_at or produced
              assert(v == i * 2)
              sum = sum + v; count = count + 1
            end
            print(count, sum, first_at < n)
            produced = 0
            local seen = 0
            for i, v in pool:imap_unordered(function(x) return -x end, gen, {chunksize = 7}) do
              assert(v == -i); seen = seen + 1
            end
            print(seen)
            """)
        #expect(r.stdout == "100000\t10000100000\ttrue\n100000\n")
    }

    @Test func applyAsyncCallbacksAndAsyncResult() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local got = {}
            local ar = pool:apply_async(function(a, b) mp.sleep(0.3) return a * b end, {6, 7},
                                        {callback = function(v) got.cb = v end})
            print("ready", ar:ready())
            print("successful", pcall(ar.successful, ar))
            local t0 = mp.time()
            local ok, e = pcall(ar.get, ar, 0.05)
            print("timeout", ok, e.kind, mp.time() - t0 < 0.25)
            print("wait", ar:wait(0.01), ar:wait(), ar:ready(), ar:successful())
            print("get", ar:get(), ar:get(0), got.cb)
            local bad = pool:apply_async(function() error({code = 7}) end, {},
                                         {error_callback = function(err) got.err = err end})
            bad:wait()
            print("failed", bad:ready(), bad:successful(), got.err.kind, got.err.value.code)
            local ok, e = pcall(bad.get, bad)
            print("get raises", ok, e == got.err)
            local m = pool:map_async(function(x) return x + 1 end, {1, 2, 3}, {callback = function(r) got.map = r end})
            print("map_async", table.concat(m:get(), ","), table.concat(got.map, ","))
            local s = pool:starmap_async(function(a, b) return a - b end, {{5, 1}, {9, 2}})
            print("starmap_async", table.concat(s:get(), ","))
            local e0 = pool:map_async(print, {})
            print("empty", #e0:get(), e0:successful())
            local me = pool:map_async(function(x) if x == 2 then error("two") end return x end, {1, 2, 3},
                                      {error_callback = function(err) got.merr = err end})
            local ok, e = pcall(me.get, me)
            print("map_async error", ok, e.kind, e.index, e.message:match("two$"), got.merr == e)
            """)
        #expect(r.stdout == """
            ready\tfalse
            successful\tfalse\tValueError: result is not ready
            timeout\tfalse\tTimeout\ttrue
            wait\tfalse\ttrue\ttrue\ttrue
            get\t42\t42\t42
            failed\ttrue\tfalse\tRemoteError\t7
            get raises\tfalse\ttrue
            map_async\t2,3,4\t2,3,4
            starmap_async\t4,7
            empty\t0\ttrue
            map_async error\tfalse\tRemoteError\t2\ttwo\ttrue

            """)
    }
}
