/// `mp.Process`, `mp.current_process`, `mp.parent_process`,
/// `mp.active_children`: the Lua side of processes (Python's
/// multiprocessing/process.py), built on the `_fork`/`_wait`/`_signal`/`_exit`
/// primitives.
enum ProcessLua {
    static let source = #"""
local mp = ...
local fork, wait, signal, exit = mp._fork, mp._wait, mp._signal, mp._exit
local SIGTERM, SIGKILL = mp._SIGTERM, mp._SIGKILL
local error, setmetatable, type, tostring, select = error, setmetatable, type, tostring, select
local unpack = table.unpack

-- Every child calls xpcall and next; liblua reaches lua_pcallk/lua_next/
-- lua_pushnil through lazily bound PLT slots, which each child would otherwise
-- resolve again (a few page faults per fork). Bind them once, here.
xpcall(next, error, {})

--- Errors -------------------------------------------------------------------
local Error = getmetatable(mp._error("ValueError", ""))
function mp._raise(kind, message, fields, level)
  error(mp._error(kind, message, fields), level or 2)
end
local raise = mp._raise

--- This process ---------------------------------------------------------------
-- `identity` numbers children as Python does: Process-1, Process-1:2 ...
-- current_process() and parent_process() answer Python's questions too:
-- is_alive(), and the parent's join([timeout]).
local Current = { __name = "multiprocessing.CurrentProcess" }
Current.__index = Current
function Current.is_alive() return true end
Current.__tostring = function(self)
  return string.format("<%s name='%s' started%s>", self._is_main and "MainProcess" or "Process", self.name,
                       self.daemon and " daemon" or "")
end
local Parent = { __name = "multiprocessing.ParentProcess" }
Parent.__index = Parent
function Parent:is_alive() return mp._getppid() == self.pid end
function Parent:join(timeout)
  local deadline = timeout and mp.time() + timeout
  while self:is_alive() do
    if deadline and mp.time() >= deadline then return false end
    mp.sleep(0.01)
  end
  return true
end
Parent.__tostring = function(self) return string.format("<ParentProcess name='%s' pid=%d>", self.name, self.pid) end
local function new_parent(name, pid) return setmetatable({ name = name, pid = pid }, Parent) end

local this = setmetatable({ name = "MainProcess", pid = mp._getpid(), daemon = false, _identity = "", _counter = 0,
                            _is_main = true }, Current)
local parent = nil
local children = {}   -- pid -> Process, for active_children and the end of the script

local Process = {}
Process.__name = "multiprocessing.Process"
Process.__index = function(self, key)
  if key == "exitcode" then
    if rawget(self, "_closed") then raise("ValueError", "process object is closed") end
    if self._exitcode == nil and self._pid and not self._reaped then self:_poll(0) end
    return self._exitcode
  elseif key == "pid" then
    return self._pid
  elseif key == "ident" then
    return self._pid
  elseif key == "sentinel" then
    return nil
  end
  return Process[key]
end
Process.__tostring = function(self)
  local state
  if rawget(self, "_closed") then state = "closed"
  elseif not self._pid then state = "initial"
  elseif self.exitcode ~= nil then state = "stopped exitcode=" .. tostring(self.exitcode)
  else state = "started" end
  return string.format("<Process name='%s' %s%s>", self.name, state, self.daemon and " daemon" or "")
end

--- `mp.Process{target=, args=, kwargs-less, name=, daemon=}` (also positional: Process(target, args)).
function mp.Process(spec, args)
  if type(spec) == "function" then spec = { target = spec, args = args } end
  if spec ~= nil and type(spec) ~= "table" then
    raise("ValueError", "Process expects a table {target=, args=, name=, daemon=}, got " .. type(spec))
  end
  spec = spec or {}
  if spec.target ~= nil and type(spec.target) ~= "function" and not (getmetatable(spec.target) or {}).__call then
    raise("ValueError", "Process target must be callable, got " .. type(spec.target))
  end
  if spec.args ~= nil and type(spec.args) ~= "table" then
    raise("ValueError", "Process args must be a table, got " .. type(spec.args))
  end
  this._counter = this._counter + 1
  local identity = (this._identity == "" and "" or this._identity .. ":") .. this._counter
  local self = setmetatable({
    target = spec.target,
    args = spec.args or {},
    name = spec.name and tostring(spec.name) or ("Process-" .. identity),
    daemon = spec.daemon,
    _identity = identity,
    _counter = 0,
    _parent_pid = mp._getpid(),
  }, Process)
  if self.daemon == nil then self.daemon = this.daemon end
  return self
end

--- What the child runs: target(unpack(args)). Override `run` on an instance to replace it.
function Process:run()
  if self.target then
    local args = self.args
    self.target(unpack(args, 1, args.n or #args))
  end
end

local function traceback_of(err)
  local message
  if type(err) == "string" or type(err) == "number" then
    message = tostring(err)
  else
    local mt = getmetatable(err)
    if mt and mt.__tostring then message = tostring(err)
    else message = "(error object is a " .. type(err) .. " value)" end
  end
  local tb = debug.traceback(message, 2)
  -- Stop at the runtime's own frames: the user's code is what matters.
  local cut = tb:find("\n\t%[multiprocessing%.[%w_]+%]:")
  if cut then tb = tb:sub(1, cut - 1) end
  return tb
end
mp._traceback_of = traceback_of

-- In the new child (any start method): becomes `self`, runs it and leaves
-- with its exit code (1 and the traceback on stderr when it raised).
local function run_as_child(self, parent_name)
  parent = new_parent(parent_name, self._parent_pid)
  this = self
  self._pid = mp._getpid()
  children = {}
  local ok, err = xpcall(self.run, traceback_of, self)
  if not ok then
    io.stderr:write("Process ", self.name, ":\n", err, "\n")
    exit(1)
  end
  exit(0)
end

-- As in Python, a closed Process object only keeps its name, pid and the like.
local function check_open(self)
  if rawget(self, "_closed") then raise("ValueError", "process object is closed", nil, 3) end
end

function Process:start()
  check_open(self)
  if self._pid then raise("StateError", "cannot start a process twice") end
  if self._parent_pid ~= mp._getpid() then
    raise("StateError", "can only start a process object created by the current process")
  end
  if this.daemon then raise("StateError", "daemonic processes are not allowed to have children") end
  local method = self.start_method or mp.get_start_method(true)
  if method == nil or method == "fork" then
    mp._before_fork()
    local pid, refused = fork(self.daemon)
    if pid == 0 then
      mp._after_fork_child()
      run_as_child(self, this.name)
    elseif pid then
      self._pid = pid
      children[pid] = self
      return
    end
    -- This process has threads: forking it is unsafe.
    if method == "fork" then raise("StateError", refused) end
    method = "forkserver"
  end
  local meta = { kind = "process", name = self.name, daemon = self.daemon, identity = self._identity }
  local run = rawget(self, "run")
  local payload = { target = self.target, args = self.args, run = run }
  self._pid, self._status = mp._launch(method, meta, payload, {}, self.daemon)
  self._method = method
  children[self._pid] = self
end

--- The child side of spawn/forkserver: becomes the process described by `meta`.
function mp._run_spawned_process(meta, payload)
  local self = setmetatable({ name = meta.name, daemon = meta.daemon, target = payload.target,
                              args = payload.args or {}, _identity = meta.identity, _counter = 0,
                              _parent_pid = meta.parent_pid }, Process)
  if payload.run then self.run = payload.run end
  run_as_child(self, meta.parent_name or "MainProcess")
end

--- Reaps the child if it ended (waiting up to `timeout`; nil waits for it).
function Process:_poll(timeout)
  if self._reaped then return true end
  local code, why
  if self._status then code, why = mp._wait_status(self, timeout)
  else code, why = wait(self._pid, timeout) end
  if code == nil and why then
    -- Not our child any more (reaped elsewhere): record it as gone.
    code = self._exitcode
  end
  if code ~= nil or why then
    self._exitcode = code
    self._reaped = true
    children[self._pid] = nil
    return true
  end
  return false
end

function Process:join(timeout)
  check_open(self)
  if self._parent_pid ~= mp._getpid() then raise("StateError", "can only join a child process") end
  if not self._pid then raise("StateError", "can only join a started process") end
  if self == this then raise("StateError", "cannot join current process") end
  if timeout ~= nil and type(timeout) ~= "number" then
    raise("ValueError", "join timeout must be a number of seconds, got " .. type(timeout))
  end
  if timeout ~= nil and timeout < 0 then timeout = 0 end
  return self:_poll(timeout)
end

function Process:is_alive()
  check_open(self)
  if self == this then return true end
  if not self._pid or self._reaped then return false end
  return not self:_poll(0)
end

local function send_signal(self, sig)
  check_open(self)
  if not self._pid then raise("StateError", "process has not been started") end
  if not self._reaped then signal(self._pid, sig) end
end
function Process:terminate() send_signal(self, SIGTERM) end
function Process:kill() send_signal(self, SIGKILL) end

function Process:close()
  if self._pid and not self._reaped and not self:_poll(0) then
    raise("ValueError", "Cannot close a process while it is still running. You should first call join() or terminate().")
  end
  self._closed = true
end

--- Makes this (freshly forked) process a child named `name` with its own identity.
function mp._become_child(name, parent_pid, daemon)
  parent = new_parent(this.name, parent_pid)
  this = setmetatable({ name = name, pid = mp._getpid(), daemon = daemon or false, _identity = name, _counter = 0 },
                      Current)
  children = {}
  mp._after_fork_child()
end

--- Module functions ---------------------------------------------------------------
function mp.current_process() return this end
function mp.parent_process() return parent end
function mp.active_children()
  local list = {}
  for pid, p in pairs(children) do
    if not p:_poll(0) then list[#list + 1] = p end
  end
  table.sort(list, function(a, b) return a._pid < b._pid end)
  return list
end

-- Hooks other parts extend (e.g. to reset per-process state in a child).
local before_fork, after_fork_child = {}, {}
function mp._register_fork_hooks(before, after)
  if before then before_fork[#before_fork + 1] = before end
  if after then after_fork_child[#after_fork_child + 1] = after end
end
function mp._before_fork() for i = 1, #before_fork do before_fork[i]() end end
function mp._after_fork_child() for i = 1, #after_fork_child do after_fork_child[i]() end end
"""#
}
