-- Producers and consumers over mp.Queue. Run it with: scripts/run-example queue
local mp = require "multiprocessing"

-- 1. The classic shape: a producer process fills a queue; once it has been
-- joined every item it put is visible, so draining until empty gets them all.
local function producer(q, first, last)
  for i = first, last do q:put(i * i) end
end

local q = mp.Queue()
local p = mp.Process{target = producer, args = {q, 1, 10}}
p:start()
p:join()
local squares = {}
while not q:empty() do squares[#squares + 1] = q:get() end
print("squares: " .. table.concat(squares, " "))

-- 2. Workers pulling tasks from a JoinableQueue and pushing results to
-- another queue; `nil` marks the end (it is a value like any other).
local function worker(tasks, results)
  while true do
    local task = tasks:get()
    if task == nil then tasks:task_done(); break end
    results:put({word = task, length = #task, by = mp.current_process().name})
    tasks:task_done()
  end
end

local tasks, results = mp.JoinableQueue(), mp.Queue()
local workers = {}
for i = 1, 2 do
  workers[i] = mp.Process{target = worker, args = {tasks, results}, name = "worker-" .. i}
  workers[i]:start()
end
local words = {"fork", "lift", "queue", "pipe", "arena", "futex"}
for _, w in ipairs(words) do tasks:put(w) end
for _ = 1, #workers do tasks:put(nil) end
tasks:join()  -- every task marked done
local total = 0
for _ = 1, #words do
  local r = results:get()
  total = total + r.length
end
for _, w in ipairs(workers) do w:join() end
print(("%d words, %d letters, all tasks done: %s"):format(#words, total, tostring(results:empty())))
