import Testing

@testable import Forklift

/// Random values must round-trip; random and damaged bytes must decode to a
/// value or raise a clear error — never crash, hang or allocate hugely.
/// Seeded, so a failure names a case that can be replayed.
@Suite("codec: fuzzing")
struct CodecFuzzTests {
    /// Lua: `gen(depth)` makes a random value (nested tables, cycles, shared
    /// tables, closures); `same(a, b)` compares two values structurally.
    static let generators = """
        local random = math.random
        local pool = {}   -- tables made so far in this value, for cycles and sharing
        local function scalar()
          local r = random(9)
          if r == 1 then return nil
          elseif r == 2 then return random(2) == 1
          elseif r == 3 then return random(math.mininteger, math.maxinteger)
          elseif r == 4 then return random(-300, 300)
          elseif r == 5 then
            local specials = {0.0, -0.0, math.huge, -math.huge, 0/0, 5e-324, 1e308, 0.5}
            return specials[random(#specials)]
          elseif r == 6 then return (random() - 0.5) * 10 ^ random(-20, 20)
          elseif r == 7 then
            local n = random(0, 40)
            local b = {}
            for i = 1, n do b[i] = string.char(random(0, 255)) end
            return table.concat(b)
          elseif r == 8 then return ({"a", "b", "key", ""})[random(4)]
          else return random(1, 5) end
        end
        local function key()
          local k = scalar()
          if k == nil or k ~= k then return "k" end
          return k
        end
        local gen
        local function closure(depth)
          local a, b = gen(depth - 1), gen(depth - 1)
          if random(2) == 1 then return function() return a, b end end
          local n = 0
          return function() n = n + 1; return a, n end
        end
        function gen(depth)
          local r = random(10)
          if depth <= 0 or r <= 4 then return scalar() end
          if r <= 8 then
            local t = {}
            pool[#pool + 1] = t
            for i = 1, random(0, 6) do t[i] = gen(depth - 1) end
            for _ = 1, random(0, 4) do t[key()] = gen(depth - 1) end
            if random(5) == 1 then t[random(1, 3) * 100] = "hole" end
            if random(4) == 1 and #pool > 0 then t.back = pool[random(#pool)] end
            return t
          elseif r == 9 then
            return closure(depth)
          else
            return #pool > 0 and pool[random(#pool)] or {}
          end
        end
        function new_value(depth) pool = {}; return gen(depth) end

        local function bits(x) return string.pack("<d", x) end
        function same(a, b, seen)
          seen = seen or {}
          if type(a) ~= type(b) then return false end
          if type(a) == "number" then
            if math.type(a) ~= math.type(b) then return false end
            if math.type(a) == "float" then return bits(a) == bits(b) end
            return a == b
          elseif type(a) == "table" then
            if seen[a] ~= nil then return seen[a] == b end
            seen[a] = b
            for k, v in pairs(a) do
              if not same(v, rawget(b, k), seen) then return false end
            end
            for k in pairs(b) do if rawget(a, k) == nil then return false end end
            return true
          elseif type(a) == "function" then
            if seen[a] ~= nil then return seen[a] == b end
            seen[a] = b
            local a1, a2 = a()
            local b1, b2 = b()
            return same(a1, b1, seen) and same(a2, b2, seen)
          end
          return a == b
        end
        """

    @Test func randomValuesRoundTrip() throws {
        let state = try codecState()
        let results = try state.run(Self.generators + "\n" + """
            local cases = 0
            for seed = 1, 3000 do
              math.randomseed(seed)
              local v = new_value(math.random(0, 6))
              local w = mp._decode(mp._encode(v))
              if not same(v, w) then error("seed " .. seed .. ": the value changed on the way") end
              -- Several values in one message share their tables.
              local x, y = mp._decode(mp._encode(v, v))
              if type(v) == "table" and x ~= y then error("seed " .. seed .. ": sharing lost") end
              cases = cases + 1
            end
            return cases
            """)
        #expect(results == [.integer(3000)])
    }

    @Test func randomAndDamagedBytesNeverCrashHangOrBalloon() throws {
        let state = try codecState()
        let results = try state.run(Self.generators + "\n" + """
            local decode, random, char = mp._decode, math.random, string.char
            local stats = {ok = 0, refused = 0}
            local function try(s, what)
              local before = collectgarbage("count")
              local t0 = os.clock()
              local ok, e = pcall(decode, s)
              local grew = collectgarbage("count") - before
              if os.clock() - t0 > 0.5 then error(what .. ": decoding took " .. (os.clock() - t0) .. " s") end
              if grew > 64 * #s / 1024 + 1024 then error(what .. ": decoding " .. #s .. " bytes took " .. grew .. " KiB") end
              if ok then stats.ok = stats.ok + 1
              else
                if type(e) ~= "table" or e.kind ~= "ValueError" or not e.message:match("^malformed message: ")
                   and not e.message:match("^decode expects") then
                  error(what .. ": unclear error " .. tostring(e))
                end
                stats.refused = stats.refused + 1
              end
            end
            -- Random bytes, mostly after a valid version byte so they reach the tags.
            math.randomseed(1)
            for i = 1, 4000 do
              local n = random(0, 48)
              local b = {}
              for j = 1, n do b[j] = char(random(0, 255)) end
              local s = table.concat(b)
              if random(4) > 1 then s = char(2) .. s end
              try(s, "random " .. i)
            end
            -- Valid messages, damaged.
            local absurd = {char(255, 255, 255, 255, 15), char(255, 255, 255, 255, 255, 255, 255, 255, 255, 1),
                            string.pack("<I4", 0xffffffff), string.pack("<I4", 0x7fffffff), char(128)}
            for seed = 1, 400 do
              math.randomseed(seed)
              local m = mp._encode(new_value(random(1, 5)), new_value(2))
              local r = random
              for k = 1, 12 do
                local what = "seed " .. seed .. " mutation " .. k
                local kind = r(6)
                local s
                local i = r(1, #m)
                if kind == 1 then s = m:sub(1, r(0, #m - 1))                                      -- truncated
                elseif kind == 2 then s = m:sub(1, i - 1) .. char(m:byte(i) ~ (1 << r(0, 7))) .. m:sub(i + 1) -- bit flip
                elseif kind == 3 then s = m:sub(1, i - 1) .. char(r(0, 255)) .. m:sub(i + 1)   -- byte replaced
                elseif kind == 4 then s = m:sub(1, i) .. absurd[r(#absurd)] .. m:sub(i + 1)      -- absurd length
                elseif kind == 5 then s = m:sub(1, i - 1) .. char(r(13, 255)) .. m:sub(i + 1)  -- unknown tag
                else s = m:sub(1, i) .. m:sub(r(1, #m)) end                                      -- spliced
                try(s, what)
              end
            end
            -- Deep nesting by hand: tables, metatable chains, functions in functions.
            for n = 190, 210 do
              try(char(2, 1) .. (char(6) .. string.pack("<I4", 1)):rep(n) .. char(0) .. string.pack("<I4", 0):rep(n), "deep " .. n)
              try(char(2, 1) .. (char(13, 6) .. string.pack("<I4", 0) .. string.pack("<I4", 0)):rep(n), "metatables " .. n)
            end
            return stats.ok, stats.refused
            """)
        guard case .integer(let ok) = results.first, case .integer(let refused) = results.last else {
            Issue.record("unexpected results \(results)")
            return
        }
        // Both outcomes must actually occur, or the fuzzer is not reaching the decoder.
        #expect(ok > 100 && refused > 1000, "ok \(ok), refused \(refused)")
    }
}
