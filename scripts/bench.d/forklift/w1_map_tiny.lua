-- W1 map-tiny: Pool(2):map of x*x over 1..1,000,000, results in order.
-- Timer: the map call only; the pool is started before and closed after it
-- (starting and stopping pools is W8). Usage: w1_map_tiny.lua [chunksize] [tag]
local mp = require "multiprocessing"

local chunksize = tonumber(arg[1])
local tag = arg[2] or "W1"
local n = 1000000

local xs = {}
for i = 1, n do xs[i] = i end
local function sq(x) return x * x end

local pool = mp.Pool(2)
local opts = chunksize and { chunksize = chunksize } or nil
local t0 = mp.time()
local res = pool:map(sq, xs, opts)
local wall = mp.time() - t0
pool:close()
pool:join()

assert(#res == n and res[1] == 1 and res[n] == n * n and res[500000] == 500000 * 500000,
       "W1: wrong results")
print(string.format("%s map-tiny tasks_per_s=%.0f wall_s=%.4f chunksize=%s",
                    tag, n / wall, wall, chunksize and tostring(chunksize) or "default"))
