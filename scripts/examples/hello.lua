-- The smallest Forklift job: the multiprocessing module is there, and so is
-- everything plain Lua has. Run it with: scripts/run-example hello
local mp = require "multiprocessing"

local t0 = mp.time()
print(("Hello from Forklift (%s) on %d CPU(s)"):format(_VERSION, mp.cpu_count()))

-- A little work, timed with the monotonic clock.
local sum = 0
for i = 1, 1000000 do sum = sum + i % 7 end
mp.sleep(0.01)
print(("sum = %d, took %.3f s"):format(sum, mp.time() - t0))
