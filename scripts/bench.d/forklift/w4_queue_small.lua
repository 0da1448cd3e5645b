-- W4 queue-small: a child puts 200,000 small integers on a Queue, the parent
-- gets them all. Timer: child start -> every item got -> child joined.
local mp = require "multiprocessing"

local n = 200000
local function producer(q, count)
    for i = 0, count - 1 do q:put(i) end
end

local q = mp.Queue()
local t0 = mp.time()
local p = mp.Process{ target = producer, args = { q, n } }
p:start()
local sum = 0
for _ = 1, n do sum = sum + q:get() end
p:join()
local wall = mp.time() - t0

assert(sum == n * (n - 1) // 2, "W4: wrong sum " .. sum)
assert(p.exitcode == 0, "W4: producer exit code " .. tostring(p.exitcode))
print(string.format("W4 queue-small msgs_per_s=%.0f wall_s=%.4f", n / wall, wall))
