-- W6 value-counter: 4 processes each increment one shared Value("i") 100,000
-- times. Timer: first start -> all joined. The final value must be exactly
-- 400,000.
-- Usage: w6_value_counter.lua [lock|add]
--   lock (W6):  acquire the value's lock, read, write, release (Python's
--               `with v.get_lock(): v.value += 1`).
--   add  (W6a): v:add(1), the module's atomic add.
local mp = require "multiprocessing"

local variant = arg[1] or "lock"
local n, k = 100000, 4

local function under_lock(v, count)
    -- One handle to the lock, fetched once: the loop measures the increments.
    local lock = v:get_lock()
    for _ = 1, count do
        lock:acquire()
        v.value = v.value + 1
        lock:release()
    end
end

local function atomic_add(v, count)
    for _ = 1, count do v:add(1) end
end

local body = assert(({ lock = under_lock, add = atomic_add })[variant], "W6: unknown variant " .. variant)
local v = mp.Value("i", 0)
local t0 = mp.time()
local ps = {}
for i = 1, k do
    ps[i] = mp.Process{ target = body, args = { v, n } }
    ps[i]:start()
end
for i = 1, k do ps[i]:join() end
local wall = mp.time() - t0

for i = 1, k do assert(ps[i].exitcode == 0, "W6: child exit code " .. tostring(ps[i].exitcode)) end
local final = v.value
assert(final == n * k, "W6: final value " .. tostring(final) .. ", expected " .. n * k)
print(string.format("%s value-counter incs_per_s=%.0f wall_s=%.4f final=%d variant=%s",
                    variant == "add" and "W6a" or "W6", n * k / wall, wall, final, variant))
