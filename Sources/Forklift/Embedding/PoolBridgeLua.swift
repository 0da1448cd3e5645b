internal import CLua

/// The Lua side of `ForkliftPool`: thin calls into `mp.Pool`, so the Swift
/// pool is the Lua pool (same workers, dispatch, errors), not a second one.
enum PoolBridgeLua {
    static let source = #"""
local mp = require "multiprocessing"
local raise = mp._raise
local type, getmetatable, load = type, getmetatable, load
local globals = _G
local bridge = {}
local PRELUDE = "local mp = require 'multiprocessing'; "
local compiled = {}   -- source -> function: one identity per source, sent once per worker

local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return mt ~= nil and mt.__call ~= nil
end

local function resolve(kind, f)
  if kind == "global" then
    local g = globals[f]
    if not callable(g) then raise("ValueError", "no global function '" .. f .. "' (found " .. type(g) .. ")") end
    return g
  elseif kind == "source" then
    local fn = compiled[f]
    if fn == nil then
      -- `mp` as an upvalue, not the host's global: it crosses to workers
      -- started by exec, which have no such global.
      local chunk, err = load(PRELUDE .. "return " .. f, "=(function source)", "t")
      if not chunk then chunk, err = load(PRELUDE .. f, "=(function source)", "t") end
      if not chunk then raise("ValueError", "cannot compile the function source: " .. err) end
      fn = chunk()
      if not callable(fn) then raise("ValueError", "the source does not evaluate to a function, got " .. type(fn)) end
      compiled[f] = fn
    end
    return fn
  end
  return f
end

local function options(chunksize)
  if chunksize then return { chunksize = chunksize } end
  return nil
end

function bridge.pool(n, initkind, init, initargs, maxtasks, method)
  return mp.Pool{ processes = n, initializer = init ~= nil and resolve(initkind, init) or nil,
                  initargs = initargs, maxtasksperchild = maxtasks, start_method = method }
end

function bridge.start_method(pool) return pool._method end
function bridge.size(pool) return pool._size end

function bridge.map(pool, kind, f, xs, chunksize)
  return pool:map(resolve(kind, f), xs, options(chunksize))
end

function bridge.starmap(pool, kind, f, xss, chunksize)
  return pool:starmap(resolve(kind, f), xss, options(chunksize))
end

function bridge.apply(pool, kind, f, args)
  return table.pack(pool:apply(resolve(kind, f), table.unpack(args, 1, args.n)))
end

function bridge.imap(pool, kind, f, xs, chunksize, unordered)
  local method = unordered and pool.imap_unordered or pool.imap
  return method(pool, resolve(kind, f), xs, options(chunksize))
end

function bridge.map_async(pool, kind, f, xs, chunksize)
  return pool:map_async(resolve(kind, f), xs, options(chunksize))
end

function bridge.wait(ar, timeout) return ar:wait(timeout) end
function bridge.get(ar) return ar:get() end
function bridge.close(pool) pool:close(); pool:join() end
function bridge.terminate(pool) pool:terminate() end

return bridge
"""#

    /// Registry key of the bridge table, built once per state.
    static let registryKey = "forklift.embedding.poolbridge"

    /// Pushes `bridge[name]`, loading the bridge on first use.
    static func pushFunction(_ name: String, in state: LuaState) throws(LuaError) {
        let lua = state.lua
        if lua.getField(forklift_registryindex, registryKey) != LUA_TTABLE {
            lua.pop()
            try state.load(source, chunkName: "=[forklift.poolbridge]", mode: "t")
            try state.call(nargs: 0, nresults: 1)
            lua.pushValue(at: -1)
            lua.setField(forklift_registryindex, registryKey)
        }
        lua.getField(-1, name)
        lua.forkliftRemove(-2)
    }
}

extension Lua {
    /// Removes the value at `index`, shifting the ones above it down.
    func forkliftRemove(_ index: Int32) { forklift_remove(L, index) }
}
