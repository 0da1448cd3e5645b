-- Two workers that each sleep 2 s, run in parallel: the job takes ~2 s, not 4.
local mp = require "multiprocessing"

local function work(name, seconds)
  print(string.format("%s (pid %d) sleeping %g s", name, mp.current_process().pid, seconds))
  mp.sleep(seconds)
  print(name .. " done")
end

local t0 = mp.time()
local workers = {}
for i = 1, 2 do
  workers[i] = mp.Process{target = work, args = {"worker-" .. i, 2}}
  workers[i]:start()
end
for _, p in ipairs(workers) do p:join() end
print(string.format("both finished in %.2f s (exit codes %d, %d)", mp.time() - t0,
  workers[1].exitcode, workers[2].exitcode))
