-- W5 queue-bulk: a child puts the same 1 MiB string 256 times on a Queue, the
-- parent gets them all. Timer as W4. Figure: MiB/s.
local mp = require "multiprocessing"

local MiB = 1 << 20
local n = 256
local function producer(q, count, size)
    local payload = string.rep("x", size)
    for _ = 1, count do q:put(payload) end
end

local q = mp.Queue()
local t0 = mp.time()
local p = mp.Process{ target = producer, args = { q, n, MiB } }
p:start()
local total = 0
for _ = 1, n do total = total + #q:get() end
p:join()
local wall = mp.time() - t0

assert(total == n * MiB, "W5: wrong byte count " .. total)
assert(p.exitcode == 0, "W5: producer exit code " .. tostring(p.exitcode))
print(string.format("W5 queue-bulk mib_per_s=%.1f wall_s=%.4f", n / wall, wall))
