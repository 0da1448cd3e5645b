-- W2 map-cpu: naive fib(27) over 32 items, serially in this process, then
-- with Pool(2):map. Figure: speedup = serial / parallel (limit 2.0 on 2 cores).
-- Pool creation is outside the parallel timer, as in W1.
local mp = require "multiprocessing"

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end

local items = {}
for i = 1, 32 do items[i] = 27 end

local t0 = mp.time()
local ser = {}
for i, x in ipairs(items) do ser[i] = fib(x) end
local serial = mp.time() - t0

local pool = mp.Pool(2)
t0 = mp.time()
local par = pool:map(fib, items)
local parallel = mp.time() - t0
pool:close()
pool:join()

assert(#par == 32 and ser[1] == 196418, "W2: wrong serial results")
for i = 1, 32 do assert(par[i] == ser[i], "W2: parallel result differs at " .. i) end
print(string.format("W2 map-cpu speedup=%.3f serial_s=%.4f parallel_s=%.4f",
                    serial / parallel, serial, parallel))
