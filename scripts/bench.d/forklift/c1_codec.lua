-- C1 codec: a 1,000,000-integer array table encoded and decoded with the
-- codec every transport uses (mp._encode / mp._decode); best of 5 rounds.
local mp = require "multiprocessing"

local n = 1000000
local xs = {}
for i = 1, n do xs[i] = i end

local best_encode, best_decode, size = math.huge, math.huge, 0
for _ = 1, 5 do
    local t0 = mp.time()
    local bytes = mp._encode(xs)
    local t1 = mp.time()
    local back = mp._decode(bytes)
    local t2 = mp.time()
    assert(#back == n and back[n] == n, "C1: the array changed on the way")
    best_encode = math.min(best_encode, t1 - t0)
    best_decode = math.min(best_decode, t2 - t1)
    size = #bytes
    bytes, back = nil, nil
    collectgarbage()
end
print(string.format("C1 codec ms_total=%.2f encode_ms=%.2f decode_ms=%.2f encode_values_per_s=%.0f decode_values_per_s=%.0f bytes=%d",
                    (best_encode + best_decode) * 1e3, best_encode * 1e3, best_decode * 1e3,
                    n / best_encode, n / best_decode, size))
