import Foundation
import Testing

/// What users hit beyond the happy path: big and many items, empty input,
/// chunk sizes, loops left early, errors raised by the script's own code.
@Suite("mp.Pool under stress", .serialized)
struct PoolStressTests {
    @Test func largeAndManyItems() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local big = {}
            for i = 1, 8 do big[i] = string.rep(string.char(64 + i), 1 << 20) .. "\\0end" end
            local r = pool:map(function(s) return s:upper() .. #s end, big)
            for i = 1, 8 do assert(r[i] == big[i]:upper() .. ((1 << 20) + 4), "item " .. i) end
            print("big", #r)
            local args = {}
            for i = 1, 100000 do args[i] = {i, i + 1, n = 2} end
            local r = pool:starmap(function(a, b) return a * b end, args)
            local sum = 0
            for i = 1, #r do assert(r[i] == i * (i + 1)); sum = sum + r[i] end
            print("starmap", #r, sum)
            """)
        #expect(r.stdout == "big\t8\nstarmap\t100000\t333343333400000\n")
    }

    @Test func emptyInputs() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            print(#pool:map(print, {}), #pool:starmap(print, {}), #pool:map_async(print, {}):get())
            for _ in pool:imap(print, {}) do error("no item expected") end
            for _ in pool:imap_unordered(print, {}) do error("no item expected") end
            for _ in pool:imap(print, function() end) do error("no item expected") end
            for _ in pool:imap_unordered(print, function() end) do error("no item expected") end
            print("done")
            """)
        #expect(r.stdout == "0\t0\t0\ndone\n")
    }

    @Test func chunkSizesGiveTheSameResults() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local xs = {}
            for i = 1, 5003 do xs[i] = i end
            local want = table.concat(pool:map(function(x) return x * 3 end, xs), ",")
            for _, cs in ipairs{1, 2, 7, 5003, 1000000} do
              assert(table.concat(pool:map(function(x) return x * 3 end, xs, {chunksize = cs}), ",") == want, cs)
              local n = 0
              for i, v in pool:imap(function(x) return x * 3 end, xs, {chunksize = cs}) do assert(v == 3 * i); n = n + 1 end
              assert(n == #xs)
            end
            print(pcall(pool.map, pool, print, xs, {chunksize = 0}))
            print(pcall(pool.map, pool, print, xs, {chunksize = 1.5}))
            -- Python's positional chunksize.
            print(#pool:map(function(x) return x end, xs, 100), #pool:starmap(function(a) return a end, {{1}, {2}}, 1))
            local n = 0
            for _ in pool:imap_unordered(function(x) return x end, xs, 500) do n = n + 1 end
            print(n, #pool:map_async(function(x) return x end, xs, 1000):get())
            print(pcall(pool.map, pool, print, xs, "big"))
            print(pcall(pool.map, pool, print, xs, 0))
            print(pcall(pool.apply_async, pool, print, {}, 5))
            """)
        #expect(r.stdout == """
            false\tValueError: chunksize must be a positive integer
            false\tValueError: chunksize must be a positive integer
            5003\t2
            5003\t5003
            false\tValueError: options must be a table {chunksize=, progress=, ...} or a chunksize, got string
            false\tValueError: chunksize must be a positive integer
            false\tValueError: apply_async options must be a table

            """)
    }

    @Test func imapLeftEarlyDoesNotDelayOrConfuseTheNextCall() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local xs = {}
            for i = 1, 20000 do xs[i] = i end
            local slow = function(x) mp.sleep(0.002) return x end
            local t0 = mp.time()
            -- Unfinished, the rest of these would take 20 s.
            for i in pool:imap(slow, xs, {chunksize = 1}) do if i == 3 then break end end
            print("map after break", table.concat(pool:map(function(x) return -x end, {1, 2, 3}), ","))
            for i in pool:imap_unordered(slow, xs, {chunksize = 1}) do break end
            print("apply after break", pool:apply(function() return "fresh" end))
            local n = 0
            local produced = 0
            for i in pool:imap(slow, function() produced = produced + 1; return produced end) do n = n + 1; if n == 5 then break end end
            local ok, e = pcall(function()
              for i, v in pool:imap(slow, xs, {chunksize = 1}) do if i == 2 then error("loop body") end end
            end)
            print("body error", ok, e:match("loop body$") ~= nil)
            print("starmap", table.concat(pool:starmap(function(a, b) return a + b end, {{1, 2}, {3, 4}}), ","))
            print("quick", mp.time() - t0 < 5)
            -- An iterator driven by hand, without a for loop, still works.
            local it = pool:imap(function(x) return x * 2 end, {4, 5})
            print(it()); print(it()); print(it())
            """, timeout: 30)
        #expect(r.stdout == """
            map after break\t-1,-2,-3
            apply after break\tfresh
            body error\tfalse\ttrue
            starmap\t3,7
            quick\ttrue
            1\t8
            2\t10
            nil

            """)
    }

    @Test func manyDistinctClosuresDoNotGrowWithoutBound() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local base = pool:apply(function() collectgarbage(); return collectgarbage("count") end)
            -- A job created before the caches are dropped still runs after.
            local old = pool:map_async(function(x) mp.sleep(0.001) return x + 0.5 end, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, {chunksize = 1})
            for i = 1, 3000 do
              local v = pool:apply(function() return i * 2 end)
              assert(v == i * 2, "closure " .. i .. " gave " .. tostring(v))
            end
            local grown = pool:apply(function() collectgarbage(); return collectgarbage("count") end) - base
            print(grown < 500, old:get()[10])
            """)
        #expect(r.stdout == "true\t10.5\n")
    }

    @Test func errorsRaisedByTheScriptsOwnCode() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            -- The input iterator raises: the imap loop raises it, the pool goes on.
            local k = 0
            local ok, e = pcall(function()
              for i in pool:imap(function(x) return x end, function() k = k + 1; if k == 100 then error("iterator broke") end return k end) do end
            end)
            print("iterator", ok, e:match("iterator broke$") ~= nil)
            print("next", pool:map(function(x) return x + 1 end, {1})[1])
            -- A callback raises: the call that ran it raises; the result stays available.
            local ar = pool:apply_async(function() return 5 end, {}, {callback = function() error("callback broke") end})
            local ok, e = pcall(ar.get, ar)
            print("callback", ok, e:match("callback broke$") ~= nil, ar:get())
            -- Pool methods called with a wrong receiver or function.
            print(pcall(pool.map, pool, 42, {1}))
            print(pcall(pool.map, pool, print, 42))
            print(pcall(pool.imap, pool, print, 42))
            print(pcall(pool.apply_async, pool, print, 42))
            """)
        #expect(r.stdout == """
            iterator\tfalse\ttrue
            next\t2
            callback\tfalse\ttrue\t5
            false\tValueError: the function to map must be callable, got number
            false\tValueError: map expects a table of items, got number
            false\tValueError: imap expects a table or an iterator function, got number
            false\tValueError: apply_async args must be a table

            """)
    }

    /// Chunks of numbers cross packed and run in the worker's C loop: every
    /// value keeps its subtype, results that change kind part way through a
    /// chunk (nil, strings, floats after integers) spill into a table, and an
    /// error in the middle reports its index without the worker's own frames.
    @Test func numericChunksKeepSubtypesThroughSpillsAndErrors() throws {
        let r = try PoolTestKit.run("""
            local pool <close> = mp.Pool(2)
            local ints, floats, mixed = {}, {}, {}
            for i = 1, 1000 do ints[i] = i; floats[i] = i + 0.5; mixed[i] = (i % 2 == 0) and i or i + 0.0 end
            local function kinds(r, n)
              local c, ks = {}, {}
              for i = 1, n do local t = math.type(r[i]) or type(r[i]); c[t] = (c[t] or 0) + 1 end
              for k, v in pairs(c) do ks[#ks + 1] = k .. "=" .. v end
              table.sort(ks)
              return table.concat(ks, " ")
            end
            print(kinds(pool:map(function(x) return x * 2 end, ints), 1000))
            print(kinds(pool:map(function(x) return x * 2 end, floats), 1000))
            print(kinds(pool:map(function(x) return x end, mixed), 1000))
            local r = pool:map(function(x) if x > 500 then return x / 1 end return x end, ints, {chunksize = 1000})
            print(kinds(r, 1000), r[500], r[501])
            r = pool:map(function(x) if x % 100 == 0 then return nil end if x % 7 == 0 then return tostring(x) end return x end, ints)
            print(kinds(r, 1000), r[7], r[100], r[101])
            local ok, e = pcall(pool.map, pool, function(x) if x % 250 == 0 then error("bad " .. x) end return x end, ints, {chunksize = 1000})
            print(ok, e.kind, e.index, e.message:match("bad %d+$"), select(2, e.traceback:gsub("\\n", "")), e.traceback:find("[C]: in ?", 1, true))
            r = pool:map(function(x) return x end, {math.maxinteger, math.mininteger, 0, -1, 1 << 62})
            print(r[1] == math.maxinteger, r[2] == math.mininteger, r[5] == 1 << 62, math.type(r[3]))
            r = pool:map(function(x) return x end, {0/0, 1/0, -1/0, -0.0, 1e308})
            print(r[1] ~= r[1], r[2], r[3], 1 / r[4], r[5])
            -- A worker dying in the C loop is a WorkerLost like any other.
            local ok, e = pcall(pool.map, pool, function(x) if x == 600 then os.exit(3) end return x end, ints, {chunksize = 100})
            print(ok, e.kind, e.exitcode, e.first <= 600 and 600 <= e.last)
            print(#pool:map(function(x) return -x end, ints))
            -- starmap over numbers (not argument lists) fails each item, packed or not.
            local ok, e = pcall(pool.starmap, pool, function(a) return a end, {1, 2, 3, 4, 5, 6}, {chunksize = 6})
            print(ok, e.kind, e.index, e.message:match("table expected") ~= nil)
            """)
        #expect(r.stdout == """
            integer=1000
            float=1000
            float=500 integer=500
            float=500 integer=500\t500\t501.0
            integer=849 nil=10 string=141\t7\tnil\t101
            false\tRemoteError\t250\tbad 250\t2\tnil
            true\ttrue\ttrue\tinteger
            true\tinf\t-inf\t-inf\t1e+308
            false\tWorkerLost\t3\ttrue
            1000
            false\tRemoteError\t1\ttrue

            """, "\(r.stderr)")
    }

    /// A pool message that does not parse is refused with a clear error,
    /// whether its numbers are packed or not.
    @Test func malformedBatchesAreRefused() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local r, w = mp._pipe()
            local out = assert(io.open("/proc/self/fd/" .. w, "wb"))
            local function try(payload, as_block)
              out:write(string.pack("<I4", #payload), payload); out:flush()
              local res = table.pack(pcall(mp._recv_batch, r, as_block))
              if res[1] then
                local items = res[res.n]
                print(true, type(items), type(items) == "table" and table.concat(items, ",") or "")
              else
                print(false, res[2].kind, res[2].message)
              end
            end
            local four = string.pack("<i8i8i8i8", 1, -2, 3, math.maxinteger)
            try("\\2\\0\\4\\1" .. four, false)
            try("\\2\\0\\4\\1" .. four, true)
            try("\\2\\0\\4\\1" .. four:sub(1, 16), true)
            try("\\2\\0\\4\\1" .. four:sub(1, 16), false)
            try("\\2\\0\\4\\9" .. four, false)
            try("\\2\\0\\4\\2" .. four .. "x", true)
            try("\\2\\0\\4\\2" .. four .. "x", false)
            """)
        #expect(r.stdout == """
            true\ttable\t1,-2,3,9223372036854775807
            true\tuserdata\t
            false\tValueError\tmalformed pool message: packed item count exceeds the message
            false\tValueError\tmalformed pool message: packed item count exceeds the message
            false\tValueError\tmalformed pool message: unknown item packing 9
            false\tValueError\tmalformed pool message: stray bytes after the batch
            false\tValueError\tmalformed pool message: stray bytes after the batch

            """, "\(r.stderr)")
    }
}
