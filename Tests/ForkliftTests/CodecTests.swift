import CLua
import Testing

@testable import Forklift

/// A Lua state with `mp` and `rt(...)` (encode then decode) as globals.
func codecState() throws -> LuaState {
    let state = try LuaState()
    state.installMultiprocessing()
    try state.run("""
        mp = require "multiprocessing"
        function rt(...) return mp._decode(mp._encode(...)) end
        function bits(x) return string.pack("<d", x) end
        function refused(...)
          local ok, e = pcall(mp._encode, ...)
          assert(not ok, "expected NotSendable")
          assert(type(e) == "table" and e.kind == "NotSendable", tostring(e))
          return e.message
        end
        function malformed(s)
          local ok, e = pcall(mp._decode, s)
          assert(not ok, "expected a decoding error")
          assert(type(e) == "table" and e.kind == "ValueError", tostring(e))
          return e.message
        end
        """)
    return state
}

/// The codec inside one process (it never forks): every value kind, sharing,
/// functions, modules by name, NotSendable paths and limits.
@Suite("codec: round trips and refusals")
struct CodecTests {
    @Test func integersKeepAll64Bits() throws {
        try codecState().run("""
            local function check(i)
              local j = rt(i)
              assert(j == i and math.type(j) == "integer", string.format("%d came back as %s", i, tostring(j)))
            end
            for k = 0, 63 do
              local p = 1 << k
              check(p); check(-p); check(p - 1); check(p + 1); check(~p)
            end
            check(math.mininteger); check(math.maxinteger); check(0); check(-1)
            local a, b, c = rt(math.mininteger, math.maxinteger, 0)
            assert(a == math.mininteger and b == math.maxinteger and c == 0)
            """)
    }

    @Test func floatsKeepTheirBitsAndSubtype() throws {
        try codecState().run("""
            local values = {0.0, -0.0, 1.0, -1.5, 3.0, 2^53, 2^63, -2^63, 1e308, -1e-308, 5e-324,
                            math.huge, -math.huge, 0/0, -(0/0), math.pi, 0.1}
            -- NaNs with payloads, built from raw bits.
            values[#values + 1] = string.unpack("<d", string.pack("<I8", 0x7ff8000000000123))
            values[#values + 1] = string.unpack("<d", string.pack("<I8", 0xfff0000000000001))
            for _, x in ipairs(values) do
              local y = rt(x)
              assert(math.type(y) == "float", tostring(x))
              assert(bits(y) == bits(x), tostring(x) .. " lost bits")
            end
            assert(1 / rt(-0.0) == -math.huge and 1 / rt(0.0) == math.huge)
            assert(math.type(rt(3.0)) == "float" and math.type(rt(3)) == "integer")
            """)
    }

    @Test func stringsAreBinarySafeAtAnySize() throws {
        try codecState().run("""
            assert(rt("") == "")
            assert(rt("\\0") == "\\0" and #rt("\\0\\0\\0") == 3)
            local all = {}
            for i = 0, 255 do all[#all + 1] = string.char(i) end
            all = table.concat(all)
            assert(rt(all) == all)
            math.randomseed(7)
            local parts = {}
            for i = 1, 4096 do parts[i] = string.pack("<I8", math.random(math.mininteger, math.maxinteger)) end
            local random = table.concat(parts)   -- 32 KiB of random bytes
            assert(rt(random) == random)
            local big = string.rep(random, 640)   -- 20 MiB
            assert(rt(big) == big)
            local a, b = rt(big, "tail")
            assert(#a == #big and b == "tail")
            -- Lengths at the varint boundaries.
            for _, n in ipairs{127, 128, 16383, 16384, 2097151, 2097152} do
              local s = string.rep("x", n); assert(rt(s) == s, n)
            end
            """)
    }

    @Test func nilBooleansAndManyValues() throws {
        try codecState().run("""
            assert(select("#", rt()) == 0)
            assert(select("#", rt(nil)) == 1 and rt(nil) == nil)
            local a, b, c, d = rt(true, false, nil, 1)
            assert(a == true and b == false and c == nil and d == 1)
            local many = {}
            for i = 1, 200 do many[i] = i end
            local back = {rt(table.unpack(many))}
            assert(#back == 200 and back[200] == 200)
            """)
    }

    @Test func tablesKeepCyclesSharingAndEveryKeyKind() throws {
        try codecState().run("""
            local shared = {"shared"}
            local t = {1, 2, 3, nil, 5, [0] = "zero", [-1] = "minus", [2.5] = "float", [true] = "yes",
                       [false] = "no", name = "t", [""] = "empty key", ["a b"] = {shared, shared}}
            t.self = t
            t[shared] = "table key"
            local fkey = function() end
            t[fkey] = "function key"
            local u = rt(t)
            assert(u ~= t and u.self == u)
            assert(u[1] == 1 and u[3] == 3 and u[4] == nil and u[5] == 5 and u[0] == "zero" and u[-1] == "minus")
            assert(u[2.5] == "float" and u[true] == "yes" and u[false] == "no" and u[""] == "empty key")
            local pair = u["a b"]
            assert(pair[1] == pair[2] and pair[1][1] == "shared")
            -- The table used as a key is the same object as the one in the pair.
            assert(u[pair[1]] == "table key")
            local fk
            for k, v in pairs(u) do if v == "function key" then fk = k end end
            assert(type(fk) == "function")
            -- Float keys with integer values are normalised by Lua itself.
            local n = rt({[1.0] = "one", [2^53] = "big"})
            assert(n[1] == "one" and n[2^53] == "big" and math.type(next(n)) == "integer")
            -- Sharing spans the values of one message but not two messages.
            local x, y = rt(shared, {shared})
            assert(x == y[1])
            assert(rt(shared) ~= rt(shared))
            -- Mutual cycles and deep sharing.
            local a, b = {}, {}
            a.b, b.a = b, a
            local a2 = rt(a)
            assert(a2.b.a == a2 and a2.b ~= b)
            """)
    }

    @Test func metatablesCross() throws {
        try codecState().run("""
            local Point = {}; Point.__index = Point
            function Point:norm2() return self.x * self.x + self.y * self.y end
            local ps = rt({setmetatable({x = 1, y = 2}, Point), setmetatable({x = 3, y = 4}, Point)})
            assert(ps[1]:norm2() == 5 and ps[2]:norm2() == 25)
            assert(getmetatable(ps[1]) == getmetatable(ps[2]) and getmetatable(ps[1]) ~= Point)
            local e = rt(mp._error("Timeout", "slow", {after = 3}))
            assert(tostring(e) == "Timeout: slow" and e.after == 3 and getmetatable(e) == getmetatable(mp._error("A", "")))
            local selfish = setmetatable({}, {}); getmetatable(selfish).__index = selfish; selfish.v = 1
            local s2 = rt(selfish)
            assert(getmetatable(s2).__index == s2)
            assert(refused(setmetatable({}, {__gc = io.stdout})) == "cannot send userdata (FILE*) at value<metatable>.__gc")
            """)
    }

    @Test func closuresUpvaluesAndRecursion() throws {
        try codecState().run("""
            local k, name = 10, "n"
            local function add(x) return x + k, name end
            local add2 = rt(add)
            assert(add2 ~= add and select(1, add2(5)) == 15 and select(2, add2(5)) == "n")
            local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
            local fib2 = rt(fib)
            assert(fib2(20) == 6765)
            -- The recursive upvalue points at the copy itself.
            assert(select(2, debug.getupvalue(fib2, 1)) == fib2)
            -- Shared upvalues stay shared within a message...
            local count = 0
            local function inc() count = count + 1; return count end
            local function get() return count end
            local pair = rt({inc, get})
            pair[1](); pair[1]()
            assert(pair[2]() == 2 and count == 0)
            -- ...and are separate copies across messages.
            local inc2, get2 = rt(inc), rt(get)
            inc2(); assert(get2() == 0)
            -- Functions as values of upvalues, nested closures, varargs.
            local function make(base) return function(...) return base + select("#", ...) end end
            local f = rt({make(100)})[1]
            assert(f(1, 2, 3) == 103)
            -- Functions crossing keep line information for tracebacks.
            local boom = rt(function() error("boom") end)
            local ok, msg = pcall(boom)
            assert(not ok and msg:match(":%d+: boom$"), msg)
            """)
    }

    @Test func envIsTheReceiversGlobalsByIdentity() throws {
        let sender = try codecState()
        let receiver = try codecState()
        try sender.run("answer = 'sender'")
        try receiver.run("answer = 'receiver'")
        // _ENV as first upvalue, as a later upvalue, and a private _ENV table.
        let message = try sender.run("""
            local counter = 0
            local function later() counter = counter + 1; return answer, counter end
            local function private()
              local _ENV = {answer = "private"}
              return function() return answer end
            end
            local function usesMath(x) return math.floor(x) end
            return mp._encode(function() return answer end, later, private(), usesMath)
            """)
        let results = try receiver.run("""
            local first, later, private, usesMath = mp._decode(...)
            local a = first()
            local b, n = later()
            return a, b, n, private(), usesMath(2.5), select(2, debug.getupvalue(first, 1)) == _G
            """, arguments: message)
        #expect(results == [
            .string("receiver"), .string("receiver"), .integer(1), .string("private"), .integer(2), .boolean(true),
        ])
    }

    @Test func modulesAndCFunctionsArriveAsTheReceiversOwn() throws {
        let sender = try codecState()
        let receiver = try codecState()
        try sender.run("package.loaded.mymod = {tag = 'sender', f = function() return 1 end}")
        try receiver.run("package.loaded.mymod = {tag = 'receiver'}")
        let message = try sender.run("""
            local mymod = require "mymod"
            local function worker(x) return mp.cpu_count() >= 1, math.sqrt(x), string.rep("a", 2), mymod.tag end
            return mp._encode(mp, string, math.sqrt, string.format, mymod, worker, _G, io.write, {mod = math})
            """)
        let results = try receiver.run("""
            local m, s, sqrt, fmt, mymod, worker, g, w, t = mp._decode(...)
            assert(m == mp and s == string and sqrt == math.sqrt and fmt == string.format)
            assert(mymod == package.loaded.mymod and g == _G and w == io.write and t.mod == math)
            return worker(16)
            """, arguments: message)
        #expect(results == [.boolean(true), .number(4), .string("aa"), .string("receiver")])
        // A module the receiver has not loaded yet is required on arrival.
        let lazy = try sender.run("package.loaded.lazymod = {}; return mp._encode(package.loaded.lazymod)")
        let loaded = try receiver.run("""
            package.preload.lazymod = function() return {x = "loaded on arrival"} end
            local m = mp._decode(...)
            return m == package.loaded.lazymod, m.x
            """, arguments: lazy)
        #expect(loaded == [.boolean(true), .string("loaded on arrival")])
        // ...and one it cannot load is a clear error.
        let missing = try sender.run("package.loaded.only_here = {}; return mp._encode(package.loaded.only_here)")
        let error = try receiver.run("local ok, e = pcall(mp._decode, ...); return e.kind, e.message", arguments: missing)
        #expect(error.first == .string("ValueError"))
        #expect(error.last?.description.contains("cannot load module 'only_here' here") == true)
    }

    @Test func notSendableNamesThePath() throws {
        let state = try codecState()
        lua_pushlightuserdata(state.L, UnsafeMutableRawPointer(bitPattern: 0x1234))
        lua_setglobal(state.L, "light")
        try state.run("""
            assert(refused({log = io.stdout}) == "cannot send userdata (FILE*) at value.log")
            assert(refused(1, {log = io.stdout}) == "cannot send userdata (FILE*) at value[2].log")
            assert(refused({1, {x = {coroutine.create(print)}}}) == "cannot send coroutine at value[2].x[1]")
            assert(refused(light) == "cannot send light userdata at value")
            assert(refused({[true] = {["a b"] = light}}) == "cannot send light userdata at value[true][\\"a b\\"]")
            assert(refused({[2.5] = io.stderr}) == "cannot send userdata (FILE*) at value[2.5]")
            local wrapped = coroutine.wrap(function() end)
            assert(refused(wrapped) == "cannot send C function (not a field of any loaded module) at value")
            local iter = ipairs({})
            assert(refused({step = iter}) == "cannot send C function (not a field of any loaded module) at value.step")
            local log = io.stdout
            local function writer() log:write("x") end
            assert(refused({w = writer}) == "cannot send userdata (FILE*) at value.w<upvalue log>")
            -- A refused table key is named by its own path.
            local msg = refused({[coroutine.create(print)] = 1})
            assert(msg:match("^cannot send coroutine at value"), msg)
            """)
    }

    @Test func nestingDeeperThanTheLimitIsRefusedBothWays() throws {
        let limit = CodecFormat.maxDepth
        try codecState().run("""
            local limit = ...
            local function nest(n) local t = {} for _ = 2, n do t = {t} end return t end
            local ok = rt(nest(limit))
            local depth, t = 0, ok
            while t do depth = depth + 1; t = t[1] end
            assert(depth == limit, depth)
            assert(refused(nest(limit + 1)):match("nested deeper than " .. limit), "encode limit")
            assert(refused(nest(100000)):match("nested deeper than"), "encode limit, far")
            -- Hand-made messages: version, one value, n nested tables of one element each.
            local function nested_bytes(n)
              local open = string.char(6) .. string.pack("<I4", 1)
              local close = string.pack("<I4", 0)
              return string.char(2, 1) .. open:rep(n) .. string.char(0) .. close:rep(n)
            end
            assert(select("#", mp._decode(nested_bytes(limit))) == 1)
            assert(malformed(nested_bytes(limit + 1)):match("nesting deeper than " .. limit))
            assert(malformed(nested_bytes(1000000)):match("nesting deeper than"))
            -- A chain of metatables (each one the next table's) is nesting too.
            local function metatable_chain(n)
              local empty = string.char(6) .. string.pack("<I4I4", 0, 0)
              return string.char(2, 1) .. (string.char(13) .. empty):rep(n) .. empty
            end
            assert(select("#", mp._decode(metatable_chain(limit - 1))) == 1)
            assert(malformed(metatable_chain(limit)):match("nesting deeper than"))
            assert(malformed(metatable_chain(200000)):match("nesting deeper than"))
            -- The same limit both ways: what one side sends, the other accepts.
            local function chain(n)
              local t = {}
              local link = t
              for _ = 1, n do local m = {}; setmetatable(link, m); link = m end
              return t
            end
            local back = rt(chain(limit - 1))
            local levels = 0
            while getmetatable(back) do back = getmetatable(back); levels = levels + 1 end
            assert(levels == limit - 1, levels)
            assert(refused(chain(limit)):match("nested deeper than " .. limit))
            """, arguments: [.integer(Int64(limit))])
    }

    @Test func malformedMessagesGiveClearErrors() throws {
        try codecState().run("""
            local v = string.char(2)
            assert(malformed("") == "malformed message: truncated message")
            assert(malformed("\\1") == "malformed message: unknown message format version 1")
            assert(malformed(v) == "malformed message: truncated message")
            assert(malformed(v .. "\\1\\99") == "malformed message: unknown tag 99")
            assert(malformed(v .. "\\1\\5\\255\\255\\255\\255\\15") == "malformed message: length 4294967295 exceeds the message")
            assert(malformed(v .. "\\255\\255\\255\\255\\255\\255\\255\\255\\255\\127") == "malformed message: varint overflows 64 bits")
            assert(malformed(v .. "\\100") == "malformed message: value count exceeds the message")
            assert(malformed(v .. "\\1\\6" .. string.pack("<I4", 0xffffffff)) == "malformed message: table length exceeds the message")
            assert(malformed(v .. "\\1\\6" .. string.pack("<I4I4", 0, 0x7fffffff)) == "malformed message: table size exceeds the message")
            assert(malformed(v .. "\\1\\6" .. string.pack("<I4I4", 0, 1) .. "\\0\\1") == "malformed message: table key is nil")
            assert(malformed(v .. "\\1\\6" .. string.pack("<I4I4", 0, 1) .. "\\4" .. string.pack("<d", 0/0) .. "\\1")
                   == "malformed message: table key is NaN")
            assert(malformed(v .. "\\1\\7\\0") == "malformed message: reference 0 to an object not yet seen")
            assert(malformed(v .. "\\1\\9\\0\\1") == "malformed message: shared-upvalue marker outside a function")
            assert(malformed(v .. "\\1\\10\\5nomod"):match("^malformed message: cannot load module 'nomod' here"))
            assert(malformed(v .. "\\1\\11\\4math\\3nop") == "malformed message: 'math.nop' is not a C function here")
            assert(malformed(v .. "\\1\\12\\250") == "malformed message: unknown object type 250")
            assert(malformed(v .. "\\1\\4\\0\\0") == "malformed message: truncated message")
            assert(malformed(mp._encode(1) .. "x") == "malformed message: 1 stray bytes after the values")
            -- Function bytecode damaged on the way is caught before Lua loads it.
            local f = mp._encode(function() return 1 end)
            local i = #f // 2
            local damaged = f:sub(1, i - 1) .. string.char((f:byte(i) + 1) % 256) .. f:sub(i + 1)
            assert(malformed(damaged):match("checksum") or malformed(damaged):match("malformed"))
            -- Text where bytecode belongs is refused by Lua's own check.
            local src = "return 1"
            local fake = v .. "\\1\\8" .. string.char(#src) .. src
            local h = 0xcbf29ce484222325
            for c in src:gmatch(".") do h = (h ~ c:byte()) * 0x100000001b3 end
            fake = fake .. string.pack("<i8", h) .. "\\0"
            assert(malformed(fake):match("bad function bytecode"), malformed(fake))
            assert(malformed(42):match("decode expects a string"))
            """)
    }
}
