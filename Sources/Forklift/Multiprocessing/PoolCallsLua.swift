/// The calls users make on a pool — `map`, `starmap`, `apply`, their
/// `_async` forms with `AsyncResult`, `imap`/`imap_unordered` (also over
/// iterator input), progress bars — and `mp.with`, built on the pool core
/// (`PoolLua`, through `mp._pool_internals`).
enum PoolCallsLua {
    static let source = #"""
local mp = ...
local raise, fork, wait, signal, exit = mp._raise, mp._fork, mp._wait, mp._signal, mp._exit
local unpack, pack, move = table.unpack, table.pack, table.move
local type, pairs, ipairs, setmetatable, getmetatable, tostring, tonumber, select, pcall, xpcall, error =
      type, pairs, ipairs, setmetatable, getmetatable, tostring, tonumber, select, pcall, xpcall, error
local floor, ceil, min, max, huge = math.floor, math.ceil, math.min, math.max, math.huge
local now = mp.time
local check_sendable, newtable = mp._check_sendable, mp._newtable
local P = mp._pool_internals
local Pool, is_callable, check_running, options, check_chunksize, next_chunk =
      P.Pool, P.is_callable, P.check_running, P.options, P.check_chunksize, P.next_chunk
local new_job, finish_job, cancel_job, push_task, dispatch, run_until =
      P.new_job, P.finish_job, P.cancel_job, P.push_task, P.dispatch, P.run_until
local fail_job, run_callbacks, DEPTH = P.fail_job, P.run_callbacks, P.DEPTH

--- Progress bars --------------------------------------------------------------------

local Progress = {}
Progress.__index = Progress

local function new_progress(opts, total, label)
  local want = opts and opts.progress
  if want == nil then want = mp._default_progress() end
  if not want then return nil end
  local tty = mp._stderr_is_tty()
  if not tty and want ~= "always" then return nil end
  return setmetatable({ total = total, started = now(), drawn = 0, tty = tty, label = label or "" }, Progress)
end

function Progress:update(done, final)
  if self.finished then return end
  if final then self.finished = true end
  local t = now()
  if not final and t - self.drawn < 0.1 then return end
  self.drawn = t
  local elapsed = t - self.started
  local rate = elapsed > 0 and done / elapsed or 0
  local line
  if self.total then
    local frac = self.total > 0 and done / self.total or 1
    local width = 30
    local filled = floor(frac * width + 0.5)
    local eta = rate > 0 and (self.total - done) / rate or 0
    line = string.format("%s%3d%% [%s%s] %d/%d %.0f/s ETA %.1fs", self.label, floor(frac * 100),
      string.rep("#", filled), string.rep("-", width - filled), done, self.total, rate, eta)
  else
    line = string.format("%s%d done %.0f/s %.1fs", self.label, done, rate, elapsed)
  end
  if self.tty then io.stderr:write("\r", line, "\27[K") else io.stderr:write(line, "\n") end
  if final and self.tty then io.stderr:write("\n") end
  io.stderr:flush()
end

--- map / starmap / map_async --------------------------------------------------------

local function check_sequence(xs, what)
  if type(xs) ~= "table" then raise("ValueError", what .. " expects a table of items, got " .. type(xs)) end
end

local function submit_map(pool, f, xs, opts, mode, kind)
  check_running(pool)
  opts = options(opts)
  if not is_callable(f) then raise("ValueError", "the function to map must be callable, got " .. type(f)) end
  check_sequence(xs, kind)
  local chunksize = check_chunksize(opts)
  local n = xs.n or #xs
  -- Refused before any task is sent: a map never runs half of its items
  -- because a later one cannot cross.
  check_sendable(xs, 1, n)
  local job = new_job(pool, kind, f, mode, n)
  job.progress = new_progress(opts, n)
  local first = 1
  while first <= n do
    local c = next_chunk(pool, n - first + 1, chunksize)
    push_task(pool, { job = job, src = xs, first = first, start = first, n = c })
    first = first + c
  end
  if n == 0 then finish_job(job) end
  dispatch(pool)
  -- The results' table is made at full size once the workers have their
  -- first chunks: a million slots take thousands of page faults (~6 ms).
  if n > 0 then job.results = newtable(n) end
  return job
end

local function map_outcome(job)
  if job.progress then job.progress:update(job.done, true) end
  if job.error_index then
    cancel_job(job)
    error(job.errors[job.error_index], 0)
  end
  local r = job.results
  r.n = nil
  return r
end

function Pool:map(f, xs, opts)
  local job = submit_map(self, f, xs, opts, "map", "map")
  run_until(self, function() return job.ready end)
  return map_outcome(job)
end

function Pool:starmap(f, xs, opts)
  local job = submit_map(self, f, xs, opts, "star", "starmap")
  run_until(self, function() return job.ready end)
  return map_outcome(job)
end

--- AsyncResult ------------------------------------------------------------------------

local AsyncResult = {}
AsyncResult.__index = AsyncResult
AsyncResult.__name = "multiprocessing.AsyncResult"

local function new_async(pool, job, outcome, callback, error_callback)
  local ar = setmetatable({ _pool = pool, _job = job, _outcome = outcome }, AsyncResult)
  job.on_ready = function()
    if job.error_index then
      if error_callback then error_callback(job.errors[job.error_index]) end
    elseif callback then
      callback(outcome(job))
    end
  end
  if job.ready then run_callbacks(pool) end
  return ar
end

function AsyncResult:ready()
  if not self._job.ready and self._pool._state ~= "terminated" then
    run_until(self._pool, function() return self._job.ready end, 0)
  end
  return self._job.ready
end

function AsyncResult:wait(timeout)
  if timeout ~= nil and type(timeout) ~= "number" then raise("ValueError", "timeout must be a number") end
  if not self._job.ready then run_until(self._pool, function() return self._job.ready end, timeout) end
  return self._job.ready
end

function AsyncResult:get(timeout)
  if not self:wait(timeout) then raise("Timeout", "result not ready within " .. tostring(timeout) .. " s") end
  local job = self._job
  if job.error_index then error(job.errors[job.error_index], 0) end
  return self._outcome(job)
end

function AsyncResult:successful()
  if not self._job.ready then raise("ValueError", "result is not ready") end
  return self._job.error_index == nil
end

local function list_outcome(job)
  local r = job.results
  return r
end

function Pool:map_async(f, xs, opts, callback, error_callback)
  opts = options(opts) or {}
  local job = submit_map(self, f, xs, opts, "map", "map")
  return new_async(self, job, list_outcome, callback or opts.callback, error_callback or opts.error_callback)
end

function Pool:starmap_async(f, xs, opts, callback, error_callback)
  opts = options(opts) or {}
  local job = submit_map(self, f, xs, opts, "star", "starmap")
  return new_async(self, job, list_outcome, callback or opts.callback, error_callback or opts.error_callback)
end

--- apply -------------------------------------------------------------------------------

local function apply_outcome(job)
  local r = job.results[1]
  return unpack(r, 1, r.n)
end

function Pool:apply_async(f, args, opts)
  check_running(self)
  if not is_callable(f) then raise("ValueError", "apply_async expects a callable, got " .. type(f)) end
  if args ~= nil and type(args) ~= "table" then raise("ValueError", "apply_async args must be a table") end
  if opts ~= nil and type(opts) ~= "table" then raise("ValueError", "apply_async options must be a table") end
  opts = opts or {}
  check_sendable({ args or {} }, 1, 1, "args")
  local job = new_job(self, "apply", f, "apply", 1)
  push_task(self, { job = job, src = { args or {} }, first = 1, start = 1, n = 1 })
  dispatch(self)
  return new_async(self, job, apply_outcome, opts.callback, opts.error_callback)
end

function Pool:apply(f, ...)
  local ar = self:apply_async(f, pack(...))
  return ar:get()
end

--- imap / imap_unordered -----------------------------------------------------------------

-- Streamed input: pull chunks from an iterator only while few are in flight.
local streams = setmetatable({}, { __mode = "k" })

local function refill(pool)
  for job in pairs(streams) do
    if job.pool == pool and not job.cancelled and not job.exhausted then
      local inflight = job.submitted - job.done
      local limit = (pool._size * DEPTH + 2) * (job.chunksize or 64)
      while not job.exhausted and inflight < limit do
        local chunk, c = {}, 0
        local size = job.chunksize or 64
        while c < size do
          local fine, v = pcall(job.iter)
          if not fine then
            -- The script's own iterator raised: the imap loop raises it, and
            -- the pool's other calls are not affected.
            job.exhausted = true
            streams[job] = nil
            fail_job(job, v, job.submitted + c + 1)
            return
          end
          if v == nil then job.exhausted = true break end
          c = c + 1
          chunk[c] = v
        end
        local ok, err = true, nil
        if c > 0 then ok, err = pcall(check_sendable, chunk, 1, c) end
        if not ok then
          -- Name the item by its place in the whole input, not in the chunk.
          if type(err) == "table" and type(err.message) == "string" then
            local k = tonumber(err.message:match("at %[(%d+)%]"))
            if k then
              err.index = job.submitted + k
              err.message = err.message:gsub("at %[%d+%]", "at [" .. err.index .. "]", 1)
            end
          end
          job.exhausted = true
          streams[job] = nil
          fail_job(job, err)
          break
        end
        if c > 0 then
          push_task(pool, { job = job, src = chunk, first = 1, start = job.submitted + 1, n = c })
          job.submitted = job.submitted + c
          inflight = inflight + c
        end
      end
      if job.exhausted then
        job.total = job.submitted
        streams[job] = nil
        if job.done >= job.total then finish_job(job) end
      end
    end
  end
end

P.set_refill(refill)

local function submit_imap(pool, f, xs, opts, kind)
  check_running(pool)
  opts = options(opts)
  if not is_callable(f) then raise("ValueError", "the function to map must be callable, got " .. type(f)) end
  local chunksize = check_chunksize(opts)
  local job
  if type(xs) == "table" then
    job = submit_map(pool, f, xs, opts, "map", kind)
  elseif type(xs) == "function" then
    job = new_job(pool, kind, f, "map", nil)
    job.iter, job.submitted, job.chunksize = xs, 0, chunksize
    job.progress = new_progress(opts, nil)
    streams[job] = true
    dispatch(pool)
  else
    raise("ValueError", kind .. " expects a table or an iterator function, got " .. type(xs))
  end
  job.stream = { first = 1, last = 0 }
  return job
end

local function imap_error(job, index)
  local e = job.errors[index]
  cancel_job(job)
  streams[job] = nil
  error(e, 0)
end

-- The generic for's closing value: leaving the loop early (break, an error
-- in its body, a return) cancels the rest of the job, so the next call on
-- the pool does not wait behind it.
local Abandon = { __close = function(c)
  -- End the bar's line, so the script's next output does not land on it.
  if c.job.progress then c.job.progress:update(c.job.done, true) end
  cancel_job(c.job)
  streams[c.job] = nil
end }

function Pool:imap(f, xs, opts)
  local job = submit_imap(self, f, xs, opts, "imap")
  local pool, k = self, 0
  local function next_result()
    k = k + 1
    if job.total ~= nil and k > job.total then
      if job.progress then job.progress:update(job.done, true) end
      return nil
    end
    run_until(pool, function() return job.prefix > k or job.ready or (job.total ~= nil and k > job.total) end)
    if job.total ~= nil and k > job.total then
      if job.progress then job.progress:update(job.done, true) end
      return nil
    end
    if job.errors and job.errors[k] then imap_error(job, k) end
    -- Ended without this item: the job failed further on (e.g. an item that cannot cross).
    if job.prefix <= k then imap_error(job, job.error_index) end
    local v = job.results[k]
    job.results[k] = nil
    return k, v
  end
  return next_result, nil, nil, setmetatable({ job = job }, Abandon)
end

function Pool:imap_unordered(f, xs, opts)
  local job = submit_imap(self, f, xs, opts, "imap_unordered")
  local pool, yielded = self, 0
  local function next_result()
    local s = job.stream
    run_until(pool, function() return s.first <= s.last or job.ready or (job.total ~= nil and yielded >= job.total) end)
    if s.first > s.last then
      if job.error_index and not (job.total ~= nil and yielded >= job.total) then
        imap_error(job, job.error_index)
      end
      if job.progress then job.progress:update(job.done, true) end
      return nil
    end
    local index = s[s.first]
    s[s.first] = nil
    s.first = s.first + 1
    yielded = yielded + 1
    if job.errors and job.errors[index] then imap_error(job, index) end
    local v = job.results[index]
    job.results[index] = nil
    return index, v
  end
  return next_result, nil, nil, setmetatable({ job = job }, Abandon)
end

--- `mp.with(resource, fn)`: calls fn(resource); then closes the resource as a
--- `<close>` variable would (a Pool: close and join on success, terminate
--- while an error unwinds). Returns fn's results.
function mp.with(resource, fn)
  local mt = getmetatable(resource)
  local close = mt and mt.__close
  if not close then raise("ValueError", "mp.with needs a resource with a __close metamethod") end
  local results = pack(xpcall(fn, function(e) return e end, resource))
  if results[1] then
    close(resource, nil)
    return unpack(results, 2, results.n)
  else
    close(resource, results[2])
    error(results[2], 0)
  end
end
"""#
}
