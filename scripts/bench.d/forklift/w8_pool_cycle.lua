-- W8 pool-cycle: 50 x (Pool(2); apply one trivial task; close; join).
-- Usage: w8_pool_cycle.lua [start-method]   (no argument: the default method)
local mp = require "multiprocessing"

local method = arg[1]
if method then mp.set_start_method(method) end
local n = 50
local function trivial(x) return x + 1 end

local t0 = mp.time()
for _ = 1, n do
    local pool = mp.Pool(2)
    local r = pool:apply(trivial, 41)
    pool:close()
    pool:join()
    assert(r == 42, "W8: apply returned " .. tostring(r))
end
local wall = mp.time() - t0
print(string.format("W8 pool-cycle ms_per_cycle=%.2f wall_s=%.4f method=%s",
                    wall / n * 1e3, wall, method or "default"))
