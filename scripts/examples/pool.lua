-- The seed's pool example: square five numbers on four worker processes.
-- (Python: with Pool(4) as p: print(p.map(square, [1, 2, 3, 4, 5])))
local mp = require "multiprocessing"

local function square(x) return x * x end

local pool <close> = mp.Pool(4)   -- closed and joined when the block ends
print(table.concat(pool:map(square, {1, 2, 3, 4, 5}), ", "))
