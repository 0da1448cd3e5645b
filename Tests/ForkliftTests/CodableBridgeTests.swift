import Forklift
import Testing

@Suite("Codable bridging between Swift structs and Lua tables")
struct CodableBridgeTests {
    struct Point: Codable, Equatable {
        var x: Double
        var y: Double
    }

    enum Shape: String, Codable { case circle, square }

    struct Drawing: Codable, Equatable {
        var title: String
        var points: [Point]
        var tags: [String: Int]
        var byIndex: [Int: String]
        var shape: Shape
        var note: String?
        var count: UInt8
        var flags: [Bool]
    }

    let host: ForkliftHost
    init() throws { host = try ForkliftHost() }

    let sample = Drawing(
        title: "plan", points: [Point(x: 1, y: 2.5), Point(x: -3, y: 0)], tags: ["a": 1, "b": 2],
        byIndex: [1: "one", 2: "two", 10: "ten"], shape: .square, note: nil, count: 200, flags: [true, false])

    @Test func structBecomesALuaTableLuaCanRead() throws {
        let value = try LuaValueEncoder().encode(sample)
        let r = try host.run(
            """
            local d = ...
            return d.title, #d.points, d.points[2].x, d.tags.b, d.byIndex[10], d.byIndex[1], d.shape,
                   d.note == nil, math.type(d.count), d.flags[2], math.type(d.points[1].x)
            """, arguments: [value])
        #expect(r == ["plan", 2, -3.0, 2, "ten", "one", "square", true, "integer", false, "float"])
    }

    @Test func structsRoundTripThroughLua() throws {
        let value = try LuaValueEncoder().encode(sample)
        let back = try host.run("local d = ...; d.note = 'added in Lua'; d.count = d.count + 1; return d", arguments: [value])
        let decoded = try LuaValueDecoder().decode(Drawing.self, from: back[0])
        var expected = sample
        expected.note = "added in Lua"
        expected.count = 201
        #expect(decoded == expected)
    }

    @Test func tablesWrittenInLuaDecodeIntoStructs() throws {
        let t = try host.evaluate("{ x = 1, y = 2 }")[0]  // integers decode as Double
        #expect(try LuaValueDecoder().decode(Point.self, from: t) == Point(x: 1, y: 2))
        let list = try host.evaluate("{ {x = 0, y = 0}, {x = 0.5, y = 1e3} }")[0]
        #expect(try LuaValueDecoder().decode([Point].self, from: list) == [Point(x: 0, y: 0), Point(x: 0.5, y: 1000)])
    }

    @Test func nilElementsLeaveHolesThatDecodeBack() throws {
        let value = try LuaValueEncoder().encode([1, nil, 3] as [Int?])
        let r = try host.run("local t = ...; return t[1], t[2], t[3]", arguments: [value])
        #expect(r == [1, .nil, 3])
        #expect(try LuaValueDecoder().decode([Int?].self, from: value) == [1, nil, 3])
    }

    @Test func missingKeysAndWrongTypesAreDecodingErrorsWithPaths() throws {
        let missing = try host.evaluate("{ x = 1 }")[0]
        #expect {
            try LuaValueDecoder().decode(Point.self, from: missing)
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, _) = error else { return false }
            return key.stringValue == "y"
        }
        let wrong = try host.evaluate("{ {x = 1, y = 'two'} }")[0]
        #expect {
            try LuaValueDecoder().decode([Point].self, from: wrong)
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["0", "y"]
        }
        let fraction = try host.evaluate("{ 1.5 }")[0]
        #expect(throws: DecodingError.self) { try LuaValueDecoder().decode([Int].self, from: fraction) }
        let notSequence = try host.evaluate("{ 1, 2, name = 'x' }")[0]
        #expect(throws: DecodingError.self) { try LuaValueDecoder().decode([Int].self, from: notSequence) }
    }

    @Test func unsignedBeyondLuaIntegersIsAnEncodingError() throws {
        #expect(throws: EncodingError.self) { try LuaValueEncoder().encode([UInt64.max]) }
        #expect(try LuaValueEncoder().encode(UInt64(Int64.max)) == .integer(Int64.max))
    }

    @Test func singleValuesEncodeAsScalars() throws {
        #expect(try LuaValueEncoder().encode("s") == "s")
        #expect(try LuaValueEncoder().encode(Shape.circle) == "circle")
        #expect(try LuaValueDecoder().decode(Shape.self, from: "square") == .square)
        #expect(try LuaValueEncoder().encode(Int?.none) == .nil)
    }
}
