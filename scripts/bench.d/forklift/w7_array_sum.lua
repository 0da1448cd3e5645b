-- W7 array-sum: a shared Array("d", 10,000,000) filled by the parent (not
-- timed); 2 children each sum one half and put the sum on a Queue; the parent
-- adds the two. Timer: starting the children -> both sums got -> both joined.
-- Usage: w7_array_sum.lua [bulk|element]
--   bulk    (W7):  each child copies its half out with a:totable(i, j) and sums the table.
--   element (W7e): each child reads a[i] one element at a time.
local mp = require "multiprocessing"

local variant = arg[1] or "bulk"
local n = 10000000

local function sum_bulk(a, lo, hi, q)
    local t = a:totable(lo, hi)
    local s = 0.0
    for i = 1, #t do s = s + t[i] end
    q:put(s)
end

local function sum_elements(a, lo, hi, q)
    local s = 0.0
    for i = lo, hi do s = s + a[i] end
    q:put(s)
end

local body = assert(({ bulk = sum_bulk, element = sum_elements })[variant], "W7: unknown variant " .. variant)
local a = mp.Array("d", n)
local tf = mp.time()
for i = 1, n do a[i] = i - 1.0 end
tf = mp.time() - tf

local q = mp.Queue()
local half = n // 2
local t0 = mp.time()
local ps = {
    mp.Process{ target = body, args = { a, 1, half, q } },
    mp.Process{ target = body, args = { a, half + 1, n, q } },
}
for _, p in ipairs(ps) do p:start() end
local total = q:get() + q:get()
for _, p in ipairs(ps) do p:join() end
local wall = mp.time() - t0

assert(total == n * (n - 1) / 2, "W7: wrong total " .. tostring(total))
print(string.format("%s array-sum seconds=%.4f fill_s=%.3f variant=%s",
                    variant == "element" and "W7e" or "W7", wall, tf, variant))
