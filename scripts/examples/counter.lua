-- A shared counter, incremented by 4 processes 1000 times each.
-- Run it with: scripts/run-example counter
--
-- `n.value = n.value + 1` is two accesses: each one locks, the pair does
-- not, so two processes can read the same value and one increment is lost.
-- Holding the value's lock around the pair, or the atomic `n:add(1)`, gives
-- exactly 4000 every time.
local mp = require "multiprocessing"

local WORKERS, TIMES = 4, 1000

local function run(title, increment)
    local n = mp.Value("i", 0)
    -- Everyone starts counting together (else the first may be done
    -- before the last is even forked, and nothing overlaps).
    local start = mp.Barrier(WORKERS)
    local workers = {}
    for i = 1, WORKERS do
        workers[i] = mp.Process{target = function()
            start:wait()
            for _ = 1, TIMES do increment(n) end
        end}
        workers[i]:start()
    end
    for _, w in ipairs(workers) do w:join() end
    print(("%-40s %5d  (expected %d)"):format(title, n.value, WORKERS * TIMES))
    return n.value
end

-- Racy: read, then write. Increments made by others in between are lost
-- (how many depends on timing: sometimes none, usually some).
run("n.value = n.value + 1 (racy)", function(n)
    n.value = n.value + 1
end)

-- Correct: the pair under the value's own lock (an RLock, so the two
-- accesses inside do not lock again).
local locked = run("n:get_lock():with(...)", function(n)
    n:get_lock():with(function() n.value = n.value + 1 end)
end)

-- Correct and faster: one atomic read-modify-write in shared memory.
local added = run("n:add(1)", function(n)
    n:add(1)
end)

assert(locked == WORKERS * TIMES and added == WORKERS * TIMES)
