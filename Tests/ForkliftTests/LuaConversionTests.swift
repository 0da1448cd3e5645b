import Forklift
import Testing

@Suite("LuaValue <-> Swift conversions, both ways, through a real Lua state")
struct LuaConversionTests {
    let host: ForkliftHost

    init() throws { host = try ForkliftHost() }

    /// Sends `value` into Lua, lets Lua describe what it got, and reads it back.
    func roundTrip<T: LuaBridgeable>(_ value: T) throws -> (luaType: String, back: T) {
        let r = try host.run("local v = ...; return math.type(v) or type(v), v", arguments: [value])
        return (try r[0].as(String.self), try r[1].as(T.self))
    }

    @Test func scalarsArriveAsLuaTypesAndComeBack() throws {
        #expect(try roundTrip(42) == ("integer", 42))
        #expect(try roundTrip(Int64.min) == ("integer", Int64.min))
        #expect(try roundTrip(2.5) == ("float", 2.5))
        #expect(try roundTrip(true) == ("boolean", true))
        #expect(try roundTrip("héllo") == ("string", "héllo"))
        #expect(try roundTrip(Int32(-7)) == ("integer", Int32(-7)))
        let nothing: Int? = nil
        #expect(try roundTrip(nothing) == ("nil", nil))
        #expect(try roundTrip(Int?.some(3)) == ("integer", 3))
    }

    @Test func numbersConvertLikeMathTointeger() throws {
        #expect(try LuaValue.number(3.0).as(Int.self) == 3)
        #expect(try LuaValue.integer(3).as(Double.self) == 3.0)
        #expect(throws: LuaConversionError.self) { try LuaValue.number(3.5).as(Int.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.number(.infinity).as(Int.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.number(9.3e18).as(Int64.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(1 << 40).as(Int32.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(-1).as(UInt32.self) }
    }

    @Test func noCoercionBetweenStringsNumbersAndTruthiness() throws {
        let e = #expect(throws: LuaConversionError.self) { try LuaValue.string("12").as(Int.self) }
        #expect(e?.description == "cannot convert string to Int")
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(12).as(String.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.nil.as(Bool.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.string(LuaString(bytes: [0xff, 0xfe])).as(String.self) }
        #expect(try LuaValue.string(LuaString(bytes: [0xff])).as(LuaString.self).bytes == [0xff])
    }

    @Test func arraysAndDictionariesRoundTripThroughLua() throws {
        let r = try host.run(
            "local a, d = ...; return #a, a[1], d.x, d[1], a, d",
            arguments: [["a", "b", "c"], [LuaValue.string("x"): LuaValue.integer(5), .integer(1): .boolean(true)]])
        #expect(r[0] == 3 && r[1] == "a" && r[2] == 5 && r[3] == true)
        #expect(try r[4].as([String].self) == ["a", "b", "c"])
        let d = try r[5].as([LuaValue: LuaValue].self)
        #expect(d == [.string("x"): .integer(5), .integer(1): .boolean(true)])
        let nested = try host.evaluate("{ {1, 2}, {3}, {} }")[0].as([[Int]].self)
        #expect(nested == [[1, 2], [3], []])
        let byName = try host.evaluate("{ a = 1.5, b = 2 }")[0].as([String: Double].self)
        #expect(byName == ["a": 1.5, "b": 2.0])
        #expect(try host.evaluate("{}")[0].as([String: Int].self).isEmpty)
    }

    @Test func conversionErrorsSayWhereTheyHappened() throws {
        let e = #expect(throws: LuaConversionError.self) {
            try host.evaluate("{ {1, 2}, {3, 'x'} }")[0].as([[Int]].self)
        }
        #expect(e?.path == ["[2]", "[2]"])
        #expect(e?.description == "cannot convert string to Int at [2][2]")
        let d = #expect(throws: LuaConversionError.self) {
            try host.evaluate("{ ok = {1}, bad = {true} }")[0].as([String: [Int]].self)
        }
        #expect(d?.description == "cannot convert boolean to Int at bad[1]")
        let notArray = #expect(throws: LuaConversionError.self) { try host.evaluate("{ 1, 2, x = 3 }")[0].as([Int].self) }
        #expect(notArray?.found == "table with keys other than 1...n")
    }

    @Test func tablesBuiltFromEntriesMatchTablesReadFromLua() throws {
        let built = LuaTable(entries: [.integer(1): "a", .integer(2): "b", .integer(4): "d", "k": 1, .nil: 1, "gone": .nil])
        let read = try host.evaluate("{ 'a', 'b', [4] = 'd', k = 1 }")[0]
        #expect(LuaValue.table(built) == read)
        #expect(built.array == ["a", "b"])
    }

    @Test func optionalsOfContainers() throws {
        #expect(try LuaValue.nil.as([Int]?.self) == nil)
        #expect(try host.evaluate("{7}")[0].as([Int]?.self) == [7])
        #expect(LuaValue([1, 2] as [Int]?) == .table(LuaTable(array: [1, 2])))
    }
}

@Suite("small integer conversions")
struct SmallIntegerConversionTests {
    @Test func smallIntegersBothWaysWithRangeChecks() throws {
        #expect(LuaValue(Int8(-5)) == -5)
        #expect(LuaValue(UInt16(65535)) == 65535)
        #expect(try LuaValue.integer(255).as(UInt8.self) == 255)
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(256).as(UInt8.self) }
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(-129).as(Int8.self) }
        #expect(try LuaValue.integer(Int64.max).as(UInt64.self) == UInt64(Int64.max))
        #expect(throws: LuaConversionError.self) { try LuaValue.integer(-1).as(UInt.self) }
    }
}
