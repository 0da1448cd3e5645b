-- W3 spawn: 200 x (Process{target=empty}:start(); :join()), one after another.
-- Usage: w3_spawn.lua [start-method]   (no argument: the default method)
local mp = require "multiprocessing"

local method = arg[1]
if method then mp.set_start_method(method) end
local n = 200
local function empty() end

local t0 = mp.time()
for _ = 1, n do
    local p = mp.Process{ target = empty }
    p:start()
    p:join()
    assert(p.exitcode == 0, "W3: child exit code " .. tostring(p.exitcode))
end
local wall = mp.time() - t0
print(string.format("W3 spawn us_per_start_join=%.1f wall_s=%.4f method=%s",
                    wall / n * 1e6, wall, method or "default"))
