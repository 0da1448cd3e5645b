/// `mp.Pool`, the parent's side (Python's multiprocessing/pool.py): workers
/// and their channels (`_channel`, `_pump`), task dispatch with guided
/// chunking, jobs and their bookkeeping, the event loop, and the pool's
/// lifecycle. The calls users make (map, apply, imap, AsyncResult) are in
/// `PoolCallsLua`, the workers' loop in `PoolWorkerLua`.
///
/// There is no helper thread anywhere: the parent moves tasks and results
/// whenever the script is inside a pool call (`map`, an `imap` iteration,
/// `AsyncResult:get`/`wait`/`ready`, `join`), and workers run tasks as soon
/// as they are dispatched.
enum PoolLua {
    static let source = #"""
local mp = ...
local raise, fork, wait, signal, exit = mp._raise, mp._fork, mp._wait, mp._signal, mp._exit
local channel_new, pump, send_batch, recv_batch = mp._channel, mp._pump, mp._send_batch, mp._recv_batch
local rawpipe, closefd, encode, decode = mp._pipe, mp._closefd, mp._encode, mp._decode
local unpack, pack, move = table.unpack, table.pack, table.move
local type, pairs, ipairs, setmetatable, getmetatable, tostring, tonumber, select, pcall, xpcall, error =
      type, pairs, ipairs, setmetatable, getmetatable, tostring, tonumber, select, pcall, xpcall, error
local floor, ceil, min, max, huge = math.floor, math.ceil, math.min, math.max, math.huge
local now = mp.time

local DEPTH = 2          -- tasks queued per worker, so none waits for its next chunk
local MAX_CHUNK = 16384  -- items per automatic chunk (keeps messages ~100 KiB)
-- Pipe buffers that hold two whole chunks of numbers (what DEPTH queues):
-- with the default 64 KiB a chunk's frame crosses in pieces, and the worker
-- sleeps until the parent comes back to write the rest. A big pool gets
-- smaller pipes: past the per-user budget (fs/pipe-user-pages-soft, 64 MiB)
-- Linux would give every new pipe of the user only 8 KiB.
local PIPE_BYTES, PIPE_BUDGET = 512 * 1024, 16 * 1024 * 1024
local function pipe_bytes(workers)
  local b = PIPE_BYTES
  while b > 65536 and b * 2 * workers > PIPE_BUDGET do b = b // 2 end
  return b
end

-- Every live pool's channels, so any freshly forked child (a worker, or a
-- Process started while a pool lives) closes the parent's ends: a child
-- holding a task pipe would keep that worker from seeing end of file at join.
local all_channels = setmetatable({}, { __mode = "k" })
mp._register_fork_hooks(nil, function()
  for ch in pairs(all_channels) do ch:close() end
end)

local function is_callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return mt ~= nil and mt.__call ~= nil
end

local worker_main, trim, describe_error = mp._pool_worker_main, mp._pool_trim, mp._pool_describe_error

--- Parent side -----------------------------------------------------------------

local Pool = {}
Pool.__index = Pool
Pool.__name = "multiprocessing.Pool"
local pool_counter = 0


-- Progress words (see the worker's task loops): one shared RawArray("q")
-- per process, made on first use, with a word per live worker, a cache line
-- apart since each worker stores to its own at every item. One array for
-- every pool, not one per pool: a new shared block per pool would be one
-- more block every later fork takes a reference on until the GC frees it.
local PROGRESS_STRIDE, PROGRESS_WORDS = 8, 1024
local progress_array, free_words, next_word = nil, {}, 1
mp._register_fork_hooks(nil, function()
  -- A forked child makes its own when it starts a pool: its parent's words are the parent's.
  progress_array, free_words, next_word = nil, {}, 1
end)

-- A free word for a new worker: its index in `progress_array`, or nil
-- (shared memory or words exhausted: that worker's losses fail whole chunks).
local function take_word()
  if progress_array == nil then
    local ok, a = pcall(mp.RawArray, "q", PROGRESS_WORDS * PROGRESS_STRIDE)
    progress_array = ok and a or false
  end
  if not progress_array then return nil end
  local word = table.remove(free_words)
  if not word then
    if next_word > PROGRESS_WORDS then return nil end
    word, next_word = next_word, next_word + 1
  end
  local slot = (word - 1) * PROGRESS_STRIDE + 1
  progress_array[slot] = 0
  return slot
end

local function give_word(slot)
  if slot and progress_array then free_words[#free_words + 1] = (slot - 1) // PROGRESS_STRIDE + 1 end
end

local function spawn_worker(pool)
  local task_r, task_w = rawpipe(pipe_bytes(pool._size))
  local piped, result_r, result_w = pcall(rawpipe, pipe_bytes(pool._size))
  if not piped then closefd(task_r); closefd(task_w); error(result_r, 0) end
  local slot = take_word()
  local progress = slot and mp._word_offset(progress_array, slot) -- what the worker writes to
  pool._worker_counter = pool._worker_counter + 1
  local name = "ForkPoolWorker-" .. pool._worker_counter
  local method = pool._method
  local pid, status
  if method == nil or method == "fork" then
    mp._before_fork()
    local refused
    pid, refused = fork(true)
    if pid == 0 then
      closefd(task_w); closefd(result_r)
      -- Not daemonic (unlike Python's workers): a task may start a Process or
      -- a Pool. The parent still terminates workers at exit (fork(true) above).
      mp._become_child(name, pool._owner, false)
      local ok, err = xpcall(worker_main, function(e) return trim(debug.traceback(describe_error(e), 2)) end,
                             task_r, result_w, pool._initializer, pool._initargs, pool._maxtasks, progress)
      if not ok then io.stderr:write("Process ", name, ":\n", err, "\n") exit(1) end
      exit(0)
    elseif pid == nil then
      -- This process has threads: forking it is unsafe.
      if method == "fork" then
        for _, fd in ipairs({ task_r, task_w, result_r, result_w }) do closefd(fd) end
        give_word(slot)
        raise("StateError", refused)
      end
      method = "forkserver"
      pool._method = method
    end
  end
  if pid == nil then
    name = (method == "spawn" and "SpawnPoolWorker-" or "ForkServerPoolWorker-") .. pool._worker_counter
    local ok, p, s = pcall(mp._launch, method, { kind = "poolworker", name = name },
      { initializer = pool._initializer, initargs = pool._initargs, maxtasks = pool._maxtasks,
        progress = progress },
      { task_r, result_w }, true)
    if not ok then
      for _, fd in ipairs({ task_r, task_w, result_r, result_w }) do closefd(fd) end
      give_word(slot)
      error(p, 0)
    end
    pid, status = p, s
  end
  closefd(task_r); closefd(result_w)
  local ch = channel_new(task_w, result_r)
  all_channels[ch] = true
  local w = { pid = pid, ch = ch, outstanding = {}, first = 1, last = 0, fids = {}, name = name, _status = status,
              slot = slot }
  return w
end

local function rebuild_channels(pool)
  local chs = {}
  for i, w in ipairs(pool._workers) do chs[i] = w.ch end
  pool._channels = chs
end

--- `mp.Pool(n)` or `mp.Pool{processes=, initializer=, initargs=, maxtasksperchild=}`.
function mp.Pool(spec, initializer, initargs, maxtasks)
  local n, method
  if type(spec) == "table" then
    n, initializer, initargs, maxtasks = spec.processes, spec.initializer, spec.initargs, spec.maxtasksperchild
    method = spec.start_method
    if method ~= nil and method ~= "fork" and method ~= "spawn" and method ~= "forkserver" then
      raise("ValueError", "cannot find context for '" .. tostring(method) .. "'")
    end
  else
    n = spec
  end
  if n == nil then n = mp._default_workers() end
  if math.type(n) ~= "integer" then
    if type(n) == "number" and n == floor(n) then n = floor(n)
    else raise("ValueError", "Number of processes must be an integer, got " .. tostring(n)) end
  end
  if n < 1 then raise("ValueError", "Number of processes must be at least 1") end
  if initializer ~= nil and not is_callable(initializer) then raise("ValueError", "initializer must be callable") end
  if initargs ~= nil and type(initargs) ~= "table" then raise("ValueError", "initargs must be a table") end
  if maxtasks ~= nil and (math.type(maxtasks) ~= "integer" or maxtasks < 1) then
    raise("ValueError", "maxtasksperchild must be a positive integer")
  end
  if mp.current_process().daemon then raise("StateError", "daemonic processes are not allowed to have children") end
  pool_counter = pool_counter + 1
  local pool = setmetatable({
    _size = n, _initializer = initializer, _initargs = initargs, _maxtasks = maxtasks,
    _state = "running", _workers = {}, _pending = {}, _pending_first = 1, _pending_last = 0,
    _jobs = {}, _job_counter = 0, _fids = {}, _fid_counter = 0, _worker_counter = 0,
    _owner = mp._getpid(), _id = pool_counter, _due = {}, _method = method or mp.get_start_method(true),
  }, Pool)
  for i = 1, n do
    local ok, w = pcall(spawn_worker, pool)
    if not ok then
      -- Out of descriptors or processes part way: the workers already
      -- started must not live on, unreachable, until the script ends.
      rebuild_channels(pool)
      pool:terminate()
      error(w, 0)
    end
    pool._workers[i] = w
  end
  rebuild_channels(pool)
  return pool
end

-- Pending task queue (FIFO with push-front for re-queued tasks).
local function push_task(pool, task)
  pool._pending_last = pool._pending_last + 1
  pool._pending[pool._pending_last] = task
end
local function push_task_front(pool, task)
  pool._pending_first = pool._pending_first - 1
  pool._pending[pool._pending_first] = task
end
local function pop_task(pool)
  while pool._pending_first <= pool._pending_last do
    local t = pool._pending[pool._pending_first]
    pool._pending[pool._pending_first] = nil
    pool._pending_first = pool._pending_first + 1
    if not t.job.cancelled then return t end
  end
  return nil
end

local FUNCTIONS_KEPT = 256 -- distinct functions (closures with their upvalues) remembered

local function function_id(pool, f)
  local bytes = encode(f)
  local fid = pool._fids[bytes]
  if not fid then
    -- `apply` in a loop over a closure of the loop variable makes a new
    -- function each time: past a bound, parent and workers forget them all
    -- (ids keep growing, so a running job's id is never reused).
    pool._fid_entries = (pool._fid_entries or 0) + 1
    if pool._fid_entries > FUNCTIONS_KEPT then
      pool._fids, pool._fid_entries = {}, 1
      for _, w in ipairs(pool._workers) do w.fids = {}; w.forget = true end
    end
    pool._fid_counter = pool._fid_counter + 1
    fid = pool._fid_counter
    pool._fids[bytes] = fid
  end
  return fid, bytes
end

-- Items `a..b` (input indices) of `task`, as a task of their own.
local function subtask(task, a, b)
  return { job = task.job, src = task.src, first = task.first + (a - task.start), start = a, n = b - a + 1 }
end

local function outstanding_count(w) return w.last - w.first + 1 end

local fail_job -- forward: ends a job with an error

local function send_task(pool, w, task)
  local job = task.job
  local fbytes = nil
  if not w.fids[job.fid] then fbytes = job.fbytes end
  -- A dead worker is noticed when its result pipe reports end of file.
  local ok, err = pcall(w.ch.enqueue, w.ch, task.src, task.first, task.first + task.n - 1,
                        w.forget and "forget" or "task", job.id, job.fid, fbytes, task.start, task.n, job.mode)
  if not ok then
    -- Nothing of this task was sent (an item cannot cross): the job fails
    -- with that error, whichever pool call happens to be moving work now.
    if type(err) == "table" then err.index = err.index or task.start end
    fail_job(job, err)
    return
  end
  if fbytes then w.fids[job.fid] = true end
  w.forget = nil
  w.last = w.last + 1
  w.outstanding[w.last] = task
  task.sent = now()
end

-- A chunk expected to run longer than this is not queued behind another:
-- the round trip it would hide is small next to it, and a worker holding a
-- long chunk it has not started can finish last while the others idle
-- (with W2's 8 ms items, half an item lost at the end of every map).
local LONG_CHUNK = 0.005

-- Removes cancelled tasks at the front of the queue; the first live one.
local function peek_task(pool)
  while pool._pending_first <= pool._pending_last do
    local t = pool._pending[pool._pending_first]
    if not t.job.cancelled then return t end
    pool._pending[pool._pending_first] = nil
    pool._pending_first = pool._pending_first + 1
  end
  return nil
end

local refill -- forward: pulls more input for streamed jobs

local function dispatch(pool)
  if refill then refill(pool) end
  local workers = pool._workers
  while pool._pending_first <= pool._pending_last do
    local next_task = peek_task(pool)
    if not next_task then return end
    local per_item = next_task.job.per_item
    local best, best_n = nil, (per_item and per_item * next_task.n > LONG_CHUNK) and 1 or DEPTH
    for i = 1, #workers do
      local w = workers[i]
      if not w.retiring then
        local c = outstanding_count(w)
        if c < best_n then best, best_n = w, c end
      end
    end
    if not best then return end
    local task = pop_task(pool)
    if not task then return end
    send_task(pool, best, task)
  end
end

--- Jobs ---------------------------------------------------------------------------

local Job = {}
Job.__index = Job

local function new_job(pool, kind, f, mode, total)
  pool._job_counter = pool._job_counter + 1
  local fid, fbytes = function_id(pool, f)
  local job = setmetatable({
    id = pool._job_counter, pool = pool, kind = kind, mode = mode, fid = fid, fbytes = fbytes,
    total = total, done = 0, results = {}, completed = {}, prefix = 1, error_index = nil, ready = false,
    stream = nil, -- imap_unordered: FIFO of finished indices
  }, Job)
  pool._jobs[job.id] = job
  return job
end

-- Advances `prefix` over contiguous finished ranges (for in-order delivery).
local function advance_prefix(job)
  local completed = job.completed
  local p = job.prefix
  local n = completed[p]
  while n do
    completed[p] = nil
    p = p + n
    n = completed[p]
  end
  job.prefix = p
end

-- Callbacks run after the event loop's bookkeeping for a round is complete,
-- so a callback that raises, or calls back into the pool (even terminate),
-- finds the pool consistent.
local function finish_job(job)
  if job.ready then return end
  job.ready = true
  -- The bar's last line (also for async jobs, whose results may never be asked for).
  if job.progress then job.progress:update(job.done, true) end
  local pool = job.pool
  pool._jobs[job.id] = nil
  if job.on_ready then
    local due = pool._due
    due[#due + 1] = job
  end
end

local function run_callbacks(pool)
  local due = pool._due
  while due[1] do
    local job = table.remove(due, 1)
    job.on_ready(job)
  end
end

-- Queues finished indices for imap_unordered.
local function stream_range(job, start, n)
  if job.kind == "imap_unordered" then
    local s = job.stream
    for j = 1, n do
      s.last = s.last + 1
      s[s.last] = start + j - 1
    end
  end
end

-- Records `start .. start+n-1` as done and finishes the job when its outcome is known.
local function complete_range(job, start, n)
  job.completed[start] = n
  job.done = job.done + n
  advance_prefix(job)
  if job.progress then job.progress:update(job.done) end
  if job.total ~= nil and job.done >= job.total then finish_job(job)
  elseif job.error_index and job.prefix > job.error_index and job.kind ~= "imap" and job.kind ~= "imap_unordered" then
    -- map: every item before the first failure is in; the outcome is known.
    finish_job(job)
  end
end

function Job:deliver(start, n, items, errors)
  if self.cancelled then return end
  stream_range(self, start, n)
  if items ~= self.results then move(items, 1, n, start, self.results) end
  if errors then
    self.errors = self.errors or {}
    for j, e in pairs(errors) do
      local index = start + j - 1
      e.index = index
      self.errors[index] = mp._error("RemoteError", e.message, e)
      if self.error_index == nil or index < self.error_index then self.error_index = index end
    end
  end
  complete_range(self, start, n)
end

-- A lost range: one shared error value for every item of it.
function Job:fail_range(start, n, err)
  if self.cancelled then return end
  self.errors = self.errors or {}
  for j = 0, n - 1 do self.errors[start + j] = err end
  if self.error_index == nil or start < self.error_index then self.error_index = start end
  stream_range(self, start, n)
  complete_range(self, start, n)
end

local function cancel_job(job)
  job.cancelled = true
  job.pool._jobs[job.id] = nil
end

-- Ends `job` at once with `err` (its tasks still queued are dropped, results
-- of those already running are ignored).
fail_job = function(job, err, index)
  if job.ready or job.cancelled then return end
  job.errors = job.errors or {}
  index = index or (type(err) == "table" and math.type(err.index) == "integer" and err.index) or 1
  job.errors[index] = err
  job.error_index = index
  finish_job(job)
  job.cancelled = true
end

--- The event loop ---------------------------------------------------------------------

local function reap(w)
  if w._status then return (mp._wait_status(w, nil)) end
  local code = wait(w.pid)
  return code
end

local function worker_lost(pool, index, w, reason)
  -- A malformed frame, not end of file: the worker may still run.
  if reason ~= "eof" then signal(w.pid, mp._SIGKILL) end
  local code = reap(w)
  local fields = { pid = w.pid }
  local desc
  if code ~= nil and code < 0 then fields.signal = -code; desc = "killed by signal " .. (-code)
  else fields.exitcode = code; desc = "exited with code " .. tostring(code) end
  -- The item it was running fails; the rest of its chunk and the tasks
  -- queued behind it go to others. Items of the chunk that had finished
  -- run again: their results died with the worker.
  local running = w.outstanding[w.first]
  if running then
    w.outstanding[w.first] = nil
    local first, last = running.start, running.start + running.n - 1
    local at = w.slot and progress_array and progress_array[w.slot]
    if math.type(at) ~= "integer" or at < first or at > last then
      -- Not inside an item (between items, or decoding the chunk): the
      -- whole chunk fails, rather than risk failing the next worker the same way.
      at = nil
    end
    fields.index = at or first
    fields.first, fields.last = at or first, at or last
    local err = mp._error("WorkerLost", string.format("worker %s (pid %d) %s while running task %d",
                          w.name, w.pid, desc, fields.index), fields)
    for k = w.last, w.first + 1, -1 do
      push_task_front(pool, w.outstanding[k])
      w.outstanding[k] = nil
    end
    if at then
      running.job:fail_range(at, 1, err)
      if at < last then push_task_front(pool, subtask(running, at + 1, last)) end
      if at > first then push_task_front(pool, subtask(running, first, at - 1)) end
    else
      running.job:fail_range(first, running.n, err)
    end
  end
  give_word(w.slot)
  w.ch:close()
  all_channels[w.ch] = nil
  table.remove(pool._workers, index)
  if pool._state ~= "terminated" then
    table.insert(pool._workers, index, spawn_worker(pool))
  end
  rebuild_channels(pool)
end

local function retire(pool, index, w)
  reap(w)
  give_word(w.slot)
  w.ch:close()
  all_channels[w.ch] = nil
  table.remove(pool._workers, index)
  if pool._state ~= "terminated" then table.insert(pool._workers, index, spawn_worker(pool)) end
  rebuild_channels(pool)
end

local break_pool -- forward: a worker's initializer failed

local function handle(pool, index)
  local w = pool._workers[index]
  if w == nil then return end -- the pool was stopped while this round was handled
  -- Results arrive in the order tasks were sent: decode them straight into
  -- the job's result list at the task's place.
  local next_task = w.outstanding[w.first]
  local job_id, start, n, errors, retiring, items
  if next_task then
    job_id, start, n, errors, retiring, items = w.ch:recv(next_task.job.results, next_task.start - 1)
  else
    job_id, start, n, errors, retiring, items = w.ch:recv()
  end
  if job_id == nil then
    worker_lost(pool, index, w, start)
    return
  end
  if job_id == 0 then
    break_pool(pool, w, errors and errors[1])
    return
  end
  local task = w.outstanding[w.first]
  w.outstanding[w.first] = nil
  w.first = w.first + 1
  local job = task and task.job
  if job and job.id == job_id then
    -- The worker started this task when it was sent or when it finished
    -- the one before, whichever came later: that gives the cost per item.
    local t = now()
    if task.n > 0 then job.per_item = (t - max(task.sent or t, w.done_at or 0)) / task.n end
    w.done_at = t
    job:deliver(start, n, items, errors)
  end
  if retiring then
    w.retiring = true
    -- Anything queued behind its last task goes back to the queue.
    for k = w.last, w.first, -1 do
      push_task_front(pool, w.outstanding[k])
      w.outstanding[k] = nil
    end
    w.first, w.last = 1, 0
    retire(pool, index, w)
  end
end

--- Moves work until `done()` is true or `timeout` seconds passed; returns done().
local function run_until(pool, done, timeout)
  local deadline = timeout and (now() + timeout)
  while not done() do
    dispatch(pool)
    if #pool._channels == 0 then
      if pool._broken then error(pool._broken, 0) end
      if pool._state == "terminated" then raise("StateError", "pool was terminated") end
      return done()
    end
    -- A time-out of 0 still takes every result that is already there.
    local wait_for = deadline and max(0, deadline - now())
    local a, b, c = pump(pool._channels, wait_for)
    if a then
      -- Handle the highest position first: a lost worker is replaced in place.
      if c then handle(pool, c) end
      if b then handle(pool, b) end
      handle(pool, a)
      -- More than three ready: the next round picks them up at once.
    elseif deadline and now() >= deadline then
      run_callbacks(pool)
      return done()
    end
    if pool._due[1] then run_callbacks(pool) end
  end
  return true
end
mp._pool_run_until = run_until

--- Chunking ------------------------------------------------------------------------

-- Guided self-scheduling: each chunk is a share of what is left, so the big
-- early chunks keep messages few and the small last ones keep every worker
-- busy to the end. The share is 1/(2 * DEPTH * workers): DEPTH chunks are
-- queued per worker ahead of time, and what one worker has queued must stay
-- small next to what is left, or it finishes last while the others idle.
local function next_chunk(pool, remaining, chunksize)
  if chunksize then return min(chunksize, remaining) end
  return max(1, min(MAX_CHUNK, ceil(remaining / (2 * DEPTH * pool._size))))
end

local function check_running(pool)
  if pool._broken then error(pool._broken, 0) end
  if pool._owner ~= mp._getpid() then
    raise("StateError", "a pool can only be used by the process that created it")
  end
  if pool._state ~= "running" then raise("StateError", "Pool not running") end
end

-- The options table, or a number as Python's positional chunksize (`pool:map(f, xs, 100)`).
local function options(opts)
  if opts == nil or type(opts) == "table" then return opts end
  if type(opts) == "number" then return { chunksize = opts } end
  raise("ValueError", "options must be a table {chunksize=, progress=, ...} or a chunksize, got " .. type(opts), nil, 3)
end

local function check_chunksize(opts)
  local cs = opts and opts.chunksize
  if cs ~= nil and (math.type(cs) ~= "integer" or cs < 1) then
    raise("ValueError", "chunksize must be a positive integer")
  end
  return cs
end

--- Lifecycle ---------------------------------------------------------------------------------

function Pool:close()
  if self._state == "running" then self._state = "closed" end
end

local function stop_workers(pool, sig)
  for _, w in ipairs(pool._workers) do
    if sig then signal(w.pid, sig) end
    w.ch:close()
    all_channels[w.ch] = nil
  end
  for _, w in ipairs(pool._workers) do
    local function wait_for(timeout)
      if w._status then return mp._wait_status(w, timeout) end
      return wait(w.pid, timeout)
    end
    if sig then
      if wait_for(1.0) == nil then signal(w.pid, mp._SIGKILL); wait_for(nil) end
    else
      wait_for(nil)
    end
    give_word(w.slot)
  end
  pool._workers = {}
  pool._channels = {}
end

function Pool:join()
  if self._state == "running" then raise("ValueError", "Pool is still running") end
  if self._state == "joined" then return end
  if self._state ~= "terminated" then
    run_until(self, function()
      return next(self._jobs) == nil and self._pending_first > self._pending_last
    end)
    -- Closing the task pipes tells each worker to leave.
    stop_workers(self, nil)
    self._state = "joined"
  end
end

function Pool:terminate()
  if self._state == "terminated" or self._state == "joined" then return end
  self._state = "terminated"
  stop_workers(self, mp._SIGTERM)
  -- Unfinished jobs fail (get raises, error_callback runs) instead of waiting forever.
  local err = self._broken or mp._error("StateError", "pool was terminated")
  for _, job in pairs(self._jobs) do
    if not job.ready then
      job.errors = job.errors or {}
      job.error_index = job.error_index or 1
      job.errors[job.error_index] = job.errors[job.error_index] or err
      finish_job(job)
    end
    job.cancelled = true
  end
  self._jobs = {}
  self._pending, self._pending_first, self._pending_last = {}, 1, 0
  run_callbacks(self)
end

-- A worker's initializer failed: every worker would fail the same way, so
-- instead of respawning forever the pool stops, and every call raises the
-- initializer's error (as concurrent.futures' BrokenProcessPool does).
break_pool = function(pool, w, r)
  r = r or { message = "unknown error" }
  pool._broken = mp._error("RemoteError", "pool initializer failed in " .. w.name .. ": " .. tostring(r.message),
                           { value = r.value, traceback = r.traceback })
  Pool.terminate(pool)
end

Pool.__close = function(self, err)
  if err ~= nil then self:terminate() else self:close(); self:join() end
end
Pool.__gc = function(self)
  if self._owner == mp._getpid() and self._state ~= "terminated" and self._state ~= "joined" then
    pcall(Pool.terminate, self)
  end
end
Pool.__tostring = function(self)
  return string.format("<multiprocessing.Pool state=%s pool_size=%d>", self._state, self._size)
end

-- What the result-side part (map, apply, imap, AsyncResult, progress) builds on.
mp._pool_internals = {
  Pool = Pool, is_callable = is_callable, check_running = check_running, options = options,
  check_chunksize = check_chunksize, next_chunk = next_chunk, new_job = new_job, finish_job = finish_job,
  cancel_job = cancel_job, push_task = push_task, dispatch = dispatch, run_until = run_until,
  fail_job = fail_job, run_callbacks = run_callbacks, DEPTH = DEPTH,
  set_refill = function(f) refill = f end,
}

"""#
}
