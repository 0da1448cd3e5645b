-- Soak: a pool whose workers die under it, again and again, for a while.
-- Usage: forklift pool_crashes.lua [seconds=60] [seed]
--
-- Each round maps one of several workloads (packed integers, floats,
-- strings, starmap argument lists; default or random chunk sizes) while a
-- worker is killed at a random moment (SIGKILL or SIGSEGV from outside),
-- kills itself inside a task (os.exit at one chosen item), or nothing
-- happens. Every round must end in one of two ways: the exact results, or
-- WorkerLost naming an item of the input (exactly the chosen one when a task
-- killed its worker); and the next call must work. The number of descriptors and of child
-- processes must not grow. Prints one line per 10 s and a summary; exits 1
-- at the first broken promise.
local mp = require "multiprocessing"

local seconds = tonumber(arg[1]) or 60
local seed = tonumber(arg[2]) or os.time()
math.randomseed(seed)

local function fail(fmt, ...)
  io.stderr:write(("soak: seed %d: "):format(seed), fmt:format(...), "\n")
  os.exit(1)
end

local me = mp.current_process().pid
local function count_lines(cmd)
  local f = assert(io.popen(cmd))
  local n = 0
  for _ in f:lines() do n = n + 1 end
  f:close()
  return n
end
local function fds() return count_lines("ls /proc/" .. me .. "/fd") end
local function children()
  local f = io.open("/proc/" .. me .. "/task/" .. me .. "/children")
  local s = f and f:read("a") or ""
  if f then f:close() end
  local n = 0
  for _ in s:gmatch("%d+") do n = n + 1 end
  return n
end

local n = 20000
local ints, floats, words, pairs_ = {}, {}, {}, {}
for i = 1, n do
  ints[i] = i; floats[i] = i + 0.25; words[i] = "w" .. i; pairs_[i] = { i, 3 }
end
local function spin() local s = 0 for k = 1, 60 do s = s + k end return s end
local workloads = {
  { name = "ints", input = ints, f = function(x) spin() return x * 2 end, want = function(i) return i * 2 end, map = true },
  { name = "floats", input = floats, f = function(x) spin() return x * 2 end, want = function(i) return (i + 0.25) * 2 end, map = true },
  { name = "words", input = words, f = function(s) spin() return s .. "!" end, want = function(i) return "w" .. i .. "!" end, map = true },
  { name = "starmap", input = pairs_, f = function(a, b) spin() return a * b end, want = function(i) return i * 3 end },
}

local pool = mp.Pool(2)
local baseline_fds, baseline_children = fds(), children()
local t0, last_report = mp.time(), mp.time()
local rounds, exact, lost = 0, 0, 0
while mp.time() - t0 < seconds do
  rounds = rounds + 1
  local w = workloads[math.random(#workloads)]
  local opts = math.random(3) == 1 and { chunksize = math.random(1, 4000) } or nil
  local how = math.random(4) -- 1 SIGKILL, 2 SIGSEGV, 3 os.exit in a task, 4 nothing
  local f = w.f
  local doomed
  if how == 3 then
    -- A task kills its own worker (one item, chosen at random).
    doomed = math.random(n)
    local inner = w.f
    f = function(a, ...) if a == w.input[doomed] or (type(a) == "number" and a == doomed and not w.map) then os.exit(7) end return inner(a, ...) end
  end
  local ar = w.map and pool:map_async(f, w.input, opts) or pool:starmap_async(f, w.input, opts)
  if how <= 2 then
    mp.sleep(math.random() * 0.02)
    local victims = {}
    for _, worker in ipairs(pool._workers) do victims[#victims + 1] = worker.pid end
    os.execute(("kill -%s %d 2>/dev/null"):format(how == 1 and "KILL" or "SEGV", victims[math.random(#victims)]))
  end
  local ok, r = pcall(ar.get, ar, 30)
  if ok then
    if how == 3 then fail("round %d (%s): item %d killed its worker, yet the map succeeded", rounds, w.name, doomed) end
    exact = exact + 1
    for i = 1, n do
      if r[i] ~= w.want(i) then fail("round %d (%s): result %d is %s", rounds, w.name, i, tostring(r[i])) end
    end
  else
    if type(r) ~= "table" or r.kind ~= "WorkerLost" then fail("round %d (%s): %s", rounds, w.name, tostring(r)) end
    if math.type(r.index) ~= "integer" or r.index < 1 or r.index > n then
      fail("round %d (%s): WorkerLost index %s", rounds, w.name, tostring(r.index))
    end
    if how == 3 and r.index ~= doomed then
      fail("round %d (%s): item %d killed its worker, WorkerLost names %d", rounds, w.name, doomed, r.index)
    end
    if how == 4 then fail("round %d (%s): no worker was killed, yet %s", rounds, w.name, tostring(r)) end
    lost = lost + 1
  end
  local again = pool:map(function(x) return x + 1 end, { 1, 2, 3, 4, 5 })
  if #again ~= 5 or again[5] ~= 6 then fail("round %d: the next map failed", rounds) end
  if rounds % 20 == 0 then
    if fds() > baseline_fds + 2 then fail("round %d: %d descriptors, %d at the start", rounds, fds(), baseline_fds) end
    if children() > baseline_children then fail("round %d: %d children, %d at the start", rounds, children(), baseline_children) end
  end
  if mp.time() - last_report >= 10 then
    last_report = mp.time()
    print(("soak: %.0f s, %d rounds (%d exact, %d WorkerLost)"):format(mp.time() - t0, rounds, exact, lost))
    io.stdout:flush()
  end
end
pool:close()
pool:join()
if children() ~= 0 then fail("%d children left after join", children()) end
print(("soak: passed, seed %d: %d rounds in %.0f s (%d exact, %d WorkerLost)"):format(seed, rounds, mp.time() - t0, exact, lost))
