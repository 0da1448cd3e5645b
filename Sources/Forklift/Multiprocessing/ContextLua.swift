/// Start methods (Python's multiprocessing/context.py and spawn.py):
/// `mp.set_start_method`, `mp.get_start_method`, `mp.set_preload`, and how a
/// child is launched by `spawn` (a fresh `forklift` executable) or by the
/// fork server, and what such a child does first.
enum ContextLua {
    static let source = #"""
local mp = ...
local raise, encode, decode = mp._raise, mp._encode, mp._decode
local unpack = table.unpack

local known = { fork = true, spawn = true, forkserver = true }
local chosen = nil     -- set_start_method's choice (nil: fork, forkserver when threads exist)
local preload = {}     -- modules / scripts a spawned or fork-server child loads first

function mp.set_start_method(method, force)
  if method ~= nil and not known[method] then
    raise("ValueError", "cannot find context for '" .. tostring(method) .. "'")
  end
  if chosen ~= nil and not force and method ~= chosen then
    raise("StateError", "context has already been set")
  end
  chosen = method
end

function mp.get_start_method(allow_none)
  if chosen == nil and allow_none then return nil end
  return chosen or "fork"
end

function mp.get_all_start_methods() return { "fork", "spawn", "forkserver" } end

local function check_preload(list)
  if type(list) ~= "table" then raise("ValueError", "preload expects a list of module names or script paths") end
  local copy = {}
  for i, item in ipairs(list) do
    if type(item) ~= "string" then raise("ValueError", "preload entries must be strings") end
    copy[i] = item
  end
  return copy
end

--- What spawn and fork-server children load before running anything: module
--- names are required into the global of the same name (as `-l`), entries
--- ending in `.lua` (or holding a `/`) are run as scripts.
function mp.set_preload(list) preload = check_preload(list) end
mp.set_forkserver_preload = mp.set_preload
function mp.get_preload() return { unpack(preload) } end

local preloaded = {}   -- entries this process already loaded (a fork-server child inherits them)
local function run_preload(list)
  for _, item in ipairs(list or {}) do
    if preloaded[item] then
      -- loaded by the fork server before it forked us
    elseif item:match("%.lua$") or item:find("/", 1, true) then
      dofile(item)
    else
      _G[item] = require(item)
    end
    preloaded[item] = true
  end
end

--- A context: the module's constructors bound to one start method
--- (`mp.get_context("spawn").Process{...}`).
function mp.get_context(method)
  if method ~= nil and not known[method] then
    raise("ValueError", "cannot find context for '" .. tostring(method) .. "'")
  end
  local ctx = setmetatable({}, { __index = mp })
  function ctx.get_start_method() return method or mp.get_start_method() end
  function ctx.Process(spec, args)
    local p = mp.Process(spec, args)
    p.start_method = p.start_method or method
    return p
  end
  function ctx.Pool(spec, ...)
    if type(spec) ~= "table" then spec = { processes = spec, initializer = select(1, ...),
      initargs = select(2, ...), maxtasksperchild = select(3, ...) } end
    local copy = {}
    for k, v in pairs(spec) do copy[k] = v end
    copy.start_method = copy.start_method or method
    return mp.Pool(copy)
  end
  return ctx
end

--- Launching --------------------------------------------------------------------

-- Common description of the parent a child needs before it can decode
-- functions: where modules come from and what to preload.
local function base_meta(meta)
  meta.parent_pid = mp._getpid()
  meta.parent_name = mp.current_process().name
  meta.path, meta.cpath = package.path, package.cpath
  meta.preload = preload
  meta.start_method = chosen
  meta.arg = arg
  return meta
end

--- Starts a child with `method` ("spawn" or "forkserver"). `fds` become the
--- child's descriptors 5, 6, ...; returns pid and, for fork-server children
--- (not our children: their exit status comes through a pipe), that pipe.
function mp._launch(method, meta, payload, fds, daemon)
  -- Encode first: an unsendable target or argument is refused before any process exists.
  local meta_bytes = encode(base_meta(meta))
  local payload_bytes = encode(payload)
  if method == "spawn" then
    local r, w = mp._pipe()
    local ok, pid = pcall(mp._spawn, r, fds, daemon)
    mp._closefd(r)
    if not ok then mp._closefd(w) error(pid, 0) end
    local conn = mp._connection(-1, w)
    pcall(conn.send_bytes, conn, meta_bytes)
    pcall(conn.send_bytes, conn, payload_bytes)
    conn:close()
    return pid, nil
  elseif method == "forkserver" then
    return mp._forkserver_launch(meta_bytes, payload_bytes, fds, daemon)
  end
  raise("ValueError", "unknown start method " .. tostring(method))
end

--- The fork server, started on first use; a forked child must not share it.
local server_sock, server_pid = nil, nil
mp._register_fork_hooks(nil, function()
  if server_sock then mp._closefd(server_sock) end
  server_sock, server_pid = nil, nil
end)

--- Stops this state's fork server, and with it the workers it forked
--- (an embedding host calls it when it closes: nothing could talk to them).
function mp._forkserver_shutdown()
  if not server_sock then return end
  mp._closefd(server_sock) -- EOF: the server leaves its loop and exits
  if mp._wait(server_pid, 2) == nil then
    mp._signal(server_pid, mp._SIGKILL)
    mp._wait(server_pid)
  end
  server_sock, server_pid = nil, nil
end

function mp._forkserver_launch(meta_bytes, payload_bytes, fds, daemon)
  for attempt = 1, 2 do
    if not server_sock then
      local a, b = mp._socketpair()
      local ok, pid = pcall(mp._launch, "spawn", { kind = "forkserver", name = "ForkServer" }, {}, { b }, true)
      mp._closefd(b)
      if not ok then mp._closefd(a) error(pid, 0) end
      server_sock, server_pid = a, pid
    end
    local ok, pid, status = pcall(mp._forkserver_request, server_sock, meta_bytes, payload_bytes, fds, daemon)
    if ok then return pid, status end
    -- The server died (killed?): start a new one once.
    mp._closefd(server_sock)
    mp._wait(server_pid, 0)
    server_sock, server_pid = nil, nil
    if attempt == 2 then error(pid, 0) end
  end
end

--- The fork server's loop; returns (in a forked child) with a request to run.
function mp._forkserver_main(sock)
  local meta_bytes, payload_bytes = mp._forkserver_serve(sock)
  mp._become_spawned(meta_bytes, payload_bytes)
end

--- The child's side, from the spec bytes: load what the parent said, then run.
function mp._become_spawned(meta_bytes, payload_bytes)
  local meta = decode(meta_bytes)
  package.path, package.cpath = meta.path, meta.cpath
  arg = meta.arg
  chosen = meta.start_method
  preload = meta.preload or {}
  local ok, err = xpcall(run_preload, mp._traceback_of, preload)
  if not ok then
    io.stderr:write("Process ", tostring(meta.name), ": preload failed\n", err, "\n")
    mp._exit(1)
  end
  local payload = decode(payload_bytes)
  if meta.kind == "process" then
    mp._run_spawned_process(meta, payload)
  elseif meta.kind == "poolworker" then
    mp._become_child(meta.name, meta.parent_pid, false)
    mp._pool_worker_main(5, 6, payload.initializer, payload.initargs, payload.maxtasks, payload.progress)
  elseif meta.kind == "forkserver" then
    mp._become_child("ForkServer", meta.parent_pid, true)
    mp._forkserver_main(5)
  end
  mp._exit(0)
end

--- Entry of a process started by `spawn` (see SpawnedProcess.swift).
function mp._spawned_main()
  local conn = mp._connection(3, -1)
  local ok1, meta_bytes = pcall(conn.recv_bytes, conn)
  local ok2, payload_bytes = pcall(conn.recv_bytes, conn)
  conn:close()
  if not (ok1 and ok2) then
    io.stderr:write("forklift worker: the parent went away before describing the work\n")
    mp._exit(1)
  end
  mp._become_spawned(meta_bytes, payload_bytes)
end
"""#
}
