-- The serial floor for W1, W2 and W7: the same work in ONE plain Lua process,
-- no parallelism. Runs under `forklift` (timed with mp.time, wall clock) and
-- under plain `lua5.4` (timed with os.clock, CPU seconds: plain Lua has no
-- sub-second wall clock; for one single-threaded loop the two agree).
-- Usage: serial.lua W1|W1i|W2|W7
local clock, clock_name = os.clock, "cpu"
local ok, mp = pcall(require, "multiprocessing")
if ok and type(mp) == "table" and mp.time then clock, clock_name = mp.time, "wall" end

local jobs = {}

-- W1's work with a function call per item, as a map does.
function jobs.W1()
    local n = 1000000
    local function sq(x) return x * x end
    local t0 = clock()
    local out = {}
    for x = 1, n do out[x] = sq(x) end
    local dt = clock() - t0
    assert(#out == n and out[n] == n * n)
    return string.format("W1 map-tiny-serial tasks_per_s=%.0f seconds=%.4f", n / dt, dt)
end

-- W1's work inlined: the loop a programmer would write without a pool.
function jobs.W1i()
    local n = 1000000
    local t0 = clock()
    local out = {}
    for x = 1, n do out[x] = x * x end
    local dt = clock() - t0
    assert(#out == n and out[n] == n * n)
    return string.format("W1i map-tiny-serial-inline tasks_per_s=%.0f seconds=%.4f", n / dt, dt)
end

local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end

-- W2's serial side: fib(27) for 32 items.
function jobs.W2()
    local t0 = clock()
    local out = {}
    for i = 1, 32 do out[i] = fib(27) end
    local dt = clock() - t0
    assert(out[32] == 196418)
    return string.format("W2 map-cpu-serial seconds=%.4f per_item_ms=%.2f", dt, dt / 32 * 1e3)
end

-- W7's summing over a plain Lua table of 10M floats; the fill is not timed.
function jobs.W7()
    local n = 10000000
    local a = {}
    for i = 1, n do a[i] = i - 1.0 end
    local t0 = clock()
    local s = 0.0
    for i = 1, n do s = s + a[i] end
    local dt = clock() - t0
    assert(s == n * (n - 1) / 2)
    return string.format("W7 array-sum-serial seconds=%.4f", dt)
end

local job = assert(jobs[arg[1] or ""], "usage: serial.lua W1|W1i|W2|W7")
print(job() .. " clock=" .. clock_name)
