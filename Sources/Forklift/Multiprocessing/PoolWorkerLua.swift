/// The pool worker's loop (the worker side of `mp.Pool`): receives task
/// batches, runs the function over each item with per-item error capture,
/// and sends the results (or what failed, with the worker's traceback) back.
enum PoolWorkerLua {
    static let source = #"""
local mp = ...
local exit, send_batch, recv_batch, encode, decode = mp._exit, mp._send_batch, mp._recv_batch, mp._encode, mp._decode
local closefd, newtable = mp._closefd, mp._newtable
local unpack = table.unpack
local type, pairs, tostring, pcall, xpcall, getmetatable = type, pairs, tostring, pcall, xpcall, getmetatable

--- Worker side -----------------------------------------------------------------

local function trim(tb)
  local cut = tb:find("\n\t%[multiprocessing%.[%w_]+%]:")
  if cut then
    tb = tb:sub(1, cut - 1)
    -- C frames below the user's outermost one are the worker's own (xpcall,
    -- the packed map loop); the last frame stays (the function may be C).
    local stripped
    repeat
      if not tb:find("\n\t.*\n\t") then break end
      tb, stripped = tb:gsub("\n\t%[C%]: in [^\n]*$", "")
    until stripped == 0
  end
  return tb
end

local function describe_error(e)
  local message
  if type(e) == "string" or type(e) == "number" then message = tostring(e)
  else
    local mt = getmetatable(e)
    if mt and mt.__tostring then message = tostring(e)
    else message = "(error object is a " .. type(e) .. " value)" end
  end
  return message
end

local function capture(e)
  return { value = e, message = describe_error(e), traceback = trim(debug.traceback("", 2)):gsub("^\n", "") }
end

-- Makes an error report sendable: a value that cannot cross becomes its text.
local function sendable_report(r)
  if type(r.value) == "table" or type(r.value) == "function" or type(r.value) == "userdata"
     or type(r.value) == "thread" then
    if not pcall(encode, r.value) then r.value = r.message end
  end
  return r
end

-- `progress`: the arena offset of this worker's word in the parent's shared
-- RawArray("q") (or nil). The task loops (CLua/task_loop.h) keep it at the
-- input index of the item running, 0 between tasks, so a worker that dies
-- fails that one item only.
local function worker_main(taskfd, resultfd, initializer, initargs, maxtasks, progress)
  local loop = mp._task_loop()
  loop:watch(progress)
  -- A Process or Pool started inside a task must not hold this worker's
  -- pipes: the parent would not see end of file when this worker dies.
  -- The flag makes the hook close them once, in the direct child only.
  local own_pipes = true
  mp._register_fork_hooks(nil, function()
    if own_pipes then own_pipes = false; closefd(taskfd); closefd(resultfd) end
  end)
  if initializer then
    local ok, err = xpcall(initializer, capture, unpack(initargs or {}, 1, (initargs or {}).n or #(initargs or {})))
    if not ok then
      -- Job 0 tells the parent that this pool cannot work (respawning would fail the same way).
      pcall(send_batch, resultfd, {}, 1, 0, 0, 0, 0, { sendable_report(err) }, false)
      exit(1)
    end
  end
  local fns = {}
  local done = 0
  local results, errors
  while true do
    local kind, job, fid, fbytes, start, n, mode, items = recv_batch(taskfd, true)
    if kind == nil or kind == "stop" then exit(0) end
    if kind == "forget" then fns = {} end -- the parent dropped its function ids
    local f = fns[fid]
    if f == nil then
      f = decode(fbytes)
      fns[fid] = f
    end
    errors = nil
    -- Only a map runs packed; any other task gets its numbers as a table
    -- (a starmap over numbers fails each item, as over a table).
    if type(items) == "userdata" and mode ~= "map" then items = items:items() end
    if type(items) == "userdata" then
      -- Packed numbers (mode "map"): the block runs them in C and holds the results.
      results = items
      items:watch(loop, start - 1)
      while true do
        local ok, err = xpcall(items.run, capture, items, f)
        if ok then break end
        errors = errors or {}
        errors[items:skip()] = sendable_report(err)
      end
    else
      results = newtable(n)
      loop:begin(n, start - 1)
      local run = mode == "map" and loop.map or mode == "star" and loop.star or loop.apply -- "apply": every result
      while true do
        local ok, err = xpcall(run, capture, loop, f, items, results)
        if ok then break end
        errors = errors or {}
        errors[loop:skip()] = sendable_report(err)
      end
    end
    loop:finish()
    done = done + 1
    local retiring = maxtasks ~= nil and done >= maxtasks
    local ok, err = pcall(send_batch, resultfd, results, 1, n, job, start, n, errors, retiring)
    if not ok then
      if type(err) == "table" and err.kind == "NotSendable" then
        if results == items then results = items:results() end
        -- Find the results that cannot cross and report them as errors.
        for j = 1, n do
          local fine, why = pcall(encode, results[j])
          if not fine then
            errors = errors or {}
            errors[j] = { message = "cannot send the result: " .. describe_error(why), value = nil, traceback = "" }
            results[j] = nil
          end
        end
        send_batch(resultfd, results, 1, n, job, start, n, errors, retiring)
      else
        exit(1) -- the pool is gone
      end
    end
    if retiring then exit(0) end
  end
end

mp._pool_worker_main = worker_main
-- The parent side reports worker failures in the same words.
mp._pool_trim, mp._pool_describe_error = trim, describe_error
"""#
}
