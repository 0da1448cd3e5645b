import CLua
import Testing

@testable import Forklift

/// Every `LuaValue` case crossing into Lua and back through `LuaState`.
@Suite("LuaValue both ways through LuaState")
struct LuaValueTests {
    let lua: LuaState

    init() throws {
        lua = try LuaState()
    }

    /// Sets `value` as a global, lets Lua check it, and reads it back.
    private func roundTrip(_ value: LuaValue, luaCheck: String) throws -> LuaValue {
        lua.setGlobal("v", value)
        let verdict = try lua.run("local v = v; return \(luaCheck)")
        #expect(verdict == [.boolean(true)], "Lua saw \(value) wrongly: \(luaCheck)")
        return try lua.global("v")
    }

    @Test func scalarsKeepTheirTypes() throws {
        #expect(try roundTrip(.nil, luaCheck: "v == nil") == .nil)
        #expect(try roundTrip(true, luaCheck: "v == true") == true)
        #expect(try roundTrip(false, luaCheck: "v == false") == false)
        #expect(try roundTrip(42, luaCheck: "math.type(v) == 'integer' and v == 42") == 42)
        #expect(
            try roundTrip(.integer(.max), luaCheck: "v == math.maxinteger") == .integer(.max))
        #expect(
            try roundTrip(.integer(.min), luaCheck: "v == math.mininteger") == .integer(.min))
        #expect(try roundTrip(2.5, luaCheck: "math.type(v) == 'float' and v == 2.5") == 2.5)
        // An integral float stays a float.
        #expect(try roundTrip(3.0, luaCheck: "math.type(v) == 'float'") == .number(3.0))
    }

    @Test func specialFloatsSurvive() throws {
        guard case .number(let nan) = try roundTrip(.number(.nan), luaCheck: "v ~= v") else {
            Issue.record("NaN did not come back as a float")
            return
        }
        #expect(nan.isNaN)
        #expect(try roundTrip(.number(.infinity), luaCheck: "v == math.huge") == .number(.infinity))
        #expect(try roundTrip(.number(-.infinity), luaCheck: "v == -math.huge") == .number(-.infinity))
        guard case .number(let negativeZero) = try roundTrip(.number(-0.0), luaCheck: "1/v == -math.huge")
        else {
            Issue.record("-0.0 did not come back as a float")
            return
        }
        #expect(negativeZero.sign == .minus)
    }

    @Test func stringsAreBinarySafe() throws {
        #expect(try roundTrip("héllo", luaCheck: "v == 'h\\xC3\\xA9llo' and #v == 6") == "héllo")
        let bytes: [UInt8] = [0, 0xFF, 0xFE, 10, 0, 65]
        let back = try roundTrip(
            .string(LuaString(bytes: bytes)), luaCheck: "v == '\\0\\xFF\\xFE\\n\\0A'")
        #expect(back == .string(LuaString(bytes: bytes)))
        #expect(LuaString(bytes: bytes).string == nil, "invalid UTF-8 is not a Swift string")
        #expect(try roundTrip("", luaCheck: "v == ''") == "")
    }

    @Test func tablesKeepSequenceAndHashParts() throws {
        let table = LuaValue.table(
            LuaTable(
                array: [1, "two", 3.5, .table(LuaTable(array: [true]))],
                hash: ["name": "w1", .integer(10): "ten", .boolean(false): 0]))
        let back = try roundTrip(
            table,
            luaCheck: """
                #v == 4 and v[1] == 1 and v[2] == 'two' and v[3] == 3.5 and v[4][1] == true
                and v.name == 'w1' and v[10] == 'ten' and v[false] == 0
                """)
        #expect(back == table)
        guard case .table(let t) = back else { return }
        #expect(t["name"] == "w1")
        #expect(t[.integer(2)] == "two")
        #expect(t[.integer(10)] == "ten")
        #expect(t["missing"] == .nil)
    }

    @Test func tablesMadeInLuaAreRead() throws {
        let results = try lua.run("return {10, 20, nil, 40, x = {y = 'z'}}")
        guard case .table(let t) = results.first else {
            Issue.record("not a table: \(results)")
            return
        }
        // The sequence ends at the first nil; what follows is in the hash part.
        #expect(t.array == [10, 20])
        #expect(t[.integer(4)] == 40)
        #expect(t["x"] == .table(LuaTable(hash: ["y": "z"])))
    }

    @Test func cyclicTableIsAnErrorNotAHang() throws {
        #expect(throws: LuaError.self) { try lua.run("local t = {}; t.self = t; return t") }
        #expect(lua.lua.top == 0)
    }

    @Test func functionsAreReferencesThatCanBeCalledAndPushedBack() throws {
        let results = try lua.run("return function(a, b) return a * b, 'done' end")
        guard case .function = results.first else {
            Issue.record("not a function: \(results)")
            return
        }
        #expect(try lua.call(results[0], [6, 7]) == [42, "done"])
        lua.setGlobal("f", results[0])
        #expect(try lua.run("return f(2, 3)") == [6, "done"])
    }

    @Test func userdataThreadsAndLightUserdataAreKept() throws {
        let results = try lua.run("return io.stdout, coroutine.create(print)")
        guard case .userdata = results[0], case .thread = results[1] else {
            Issue.record("wrong kinds: \(results)")
            return
        }
        lua.setGlobal("u", results[0])
        lua.setGlobal("co", results[1])
        #expect(try lua.run("return u == io.stdout, type(co), coroutine.status(co)") == [true, "thread", "suspended"])
        #expect(results[0].typeName == "userdata")
        #expect(results[1].typeName == "thread")

        #expect(try roundTrip(.lightUserdata(0x1234), luaCheck: "type(v) == 'userdata'") == .lightUserdata(0x1234))
    }

    @Test func referenceFromAnotherStateArrivesAsNil() throws {
        let other = try LuaState()
        let f = try other.run("return print")[0]
        lua.setGlobal("g", f)
        #expect(try lua.run("return g == nil") == [true])
    }

    @Test func descriptionsFollowLua() {
        #expect(LuaValue.number(1e15).description == "1e+15")
        #expect(LuaValue.number(3).description == "3.0")
        #expect(LuaValue.number(0.1).description == "0.1")
        #expect(LuaValue.integer(-7).description == "-7")
        #expect(LuaValue.number(-.infinity).description == "-inf")
        #expect(LuaValue.table(LuaTable()).typeName == "table")
    }

    @Test func manyOperationsLeaveTheStackAsItWas() throws {
        let before = lua.lua.top
        lua.register("twice") { args in
            guard case .integer(let n) = args[0] else { throw LuaRaise("want an integer") }
            return [.integer(2 * n)]
        }
        for i in 0..<2000 {
            lua.setGlobal("n", .integer(Int64(i)))
            #expect(try lua.global("n") == .integer(Int64(i)))
            #expect(try lua.run("return twice(n)") == [.integer(Int64(2 * i))])
            #expect(try lua.callGlobal("twice", [.integer(1)]) == [2])
            _ = try? lua.run("error('x')")
            _ = try? lua.run("syntax error here")
            _ = try? lua.callGlobal("twice", ["not a number"])
        }
        #expect(lua.lua.top == before)
    }
}
