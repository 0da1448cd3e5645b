/// A Swift value that can be turned into a Lua value (mlua's `IntoLua`).
///
/// Conforming types can be passed as arguments to Lua code, returned from
/// registered Swift functions and mapped over by a `ForkliftPool`.
public protocol LuaRepresentable {
    /// This value as Lua sees it.
    var luaValue: LuaValue { get }
}

/// A Swift value that can be read back from a Lua value (mlua's `FromLua`).
///
/// Conversions are strict, not Lua's coercions: a string is never read as a
/// number nor a number as a string, so a wrong type is reported, not guessed.
public protocol LuaConvertible {
    /// Reads `value`.
    /// - Throws: `LuaConversionError` when `value` does not hold a `Self`.
    init(luaValue value: LuaValue) throws(LuaConversionError)
}

/// A type that converts both ways.
public typealias LuaBridgeable = LuaConvertible & LuaRepresentable

/// A Lua value that does not hold the Swift type asked for.
public struct LuaConversionError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The Swift type that was asked for, e.g. `Int` or `[String]`.
    public var expected: String
    /// The Lua type name of the value found (`type(v)` in Lua), or a short
    /// reason such as `number with a fraction`.
    public var found: String
    /// Where the value sits inside the converted value: table keys and
    /// sequence positions from the outside in (empty at the top level).
    public var path: [String]

    /// Creates an error; `path` starts empty and grows as it propagates outwards.
    public init(expected: String, found: String, path: [String] = []) {
        self.expected = expected
        self.found = found
        self.path = path
    }

    /// `cannot convert <found> to <expected> at <path>`.
    public var description: String {
        guard !path.isEmpty else { return "cannot convert \(found) to \(expected)" }
        var at = ""
        for component in path {
            at += at.isEmpty || component.hasPrefix("[") ? component : "." + component
        }
        return "cannot convert \(found) to \(expected) at \(at)"
    }

    /// This error, as found one level deeper under `component`.
    func inside(_ component: String) -> LuaConversionError {
        var e = self
        e.path.insert(component, at: 0)
        return e
    }
}

extension LuaValue {
    /// Reads this value as `T`, e.g. `try value.as(Int.self)`.
    /// - Throws: `LuaConversionError` when it does not hold a `T`.
    public func `as`<T: LuaConvertible>(_ type: T.Type = T.self) throws(LuaConversionError) -> T {
        try T(luaValue: self)
    }

    /// Converts any representable Swift value (`LuaValue(42)`, `LuaValue(["a": 1])`).
    public init(_ value: some LuaRepresentable) { self = value.luaValue }

    /// How a table key appears in a conversion error's path: `name` or `[3]`.
    var pathComponent: String {
        if case .string(let s) = self, let text = s.string { return text }
        return "[\(self)]"
    }

    /// The Lua type name, worded for conversion errors (integers and floats apart).
    var conversionName: String {
        switch self {
        case .integer: "integer"
        case .number: "float"
        default: typeName
        }
    }
}

// MARK: - LuaValue and its parts

extension LuaValue: LuaRepresentable, LuaConvertible {
    /// Itself.
    public var luaValue: LuaValue { self }
    /// Any value is a `LuaValue`.
    public init(luaValue value: LuaValue) { self = value }
}

extension LuaString: LuaRepresentable, LuaConvertible {
    /// A Lua string with these bytes.
    public var luaValue: LuaValue { .string(self) }
    /// Reads a Lua string (any bytes).
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .string(let s) = value else {
            throw LuaConversionError(expected: "LuaString", found: value.conversionName)
        }
        self = s
    }
}

extension LuaTable: LuaRepresentable, LuaConvertible {
    /// A Lua table with these entries.
    public var luaValue: LuaValue { .table(self) }
    /// Reads a Lua table.
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .table(let t) = value else {
            throw LuaConversionError(expected: "table", found: value.conversionName)
        }
        self = t
    }

    /// Builds a table from key/value pairs, putting the keys `1...n` in the
    /// sequence part as a table read from Lua would have them (so equal Lua
    /// tables compare equal however they were built). Nil keys and values are dropped.
    public init(entries: [LuaValue: LuaValue]) {
        var hash = entries.filter { $0.key != .nil && $0.value != .nil }
        var array: [LuaValue] = []
        var i: Int64 = 1
        while let v = hash.removeValue(forKey: .integer(i)) {
            array.append(v)
            i += 1
        }
        self.init(array: array, hash: hash)
    }
}

// MARK: - Scalars

extension Bool: LuaRepresentable, LuaConvertible {
    /// `true` or `false`.
    public var luaValue: LuaValue { .boolean(self) }
    /// Reads a Lua boolean (not Lua's truthiness: `nil` and `0` are errors).
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .boolean(let b) = value else { throw LuaConversionError(expected: "Bool", found: value.conversionName) }
        self = b
    }
}

extension String: LuaRepresentable, LuaConvertible {
    /// A Lua string holding the UTF-8 bytes.
    public var luaValue: LuaValue { .string(LuaString(self)) }
    /// Reads a Lua string whose bytes are valid UTF-8 (use `LuaString` for any bytes).
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .string(let s) = value else { throw LuaConversionError(expected: "String", found: value.conversionName) }
        guard let text = s.string else { throw LuaConversionError(expected: "String", found: "string that is not UTF-8") }
        self = text
    }
}

extension Double: LuaRepresentable, LuaConvertible {
    /// A Lua float.
    public var luaValue: LuaValue { .number(self) }
    /// Reads a Lua number, integer or float (as Lua's `tonumber` does for numbers).
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        switch value {
        case .number(let d): self = d
        case .integer(let i): self = Double(i)
        default: throw LuaConversionError(expected: "Double", found: value.conversionName)
        }
    }
}

extension Float: LuaRepresentable, LuaConvertible {
    /// A Lua float.
    public var luaValue: LuaValue { .number(Double(self)) }
    /// Reads a Lua number, rounded to the nearest `Float`.
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        do { self = Float(try Double(luaValue: value)) } catch { throw LuaConversionError(expected: "Float", found: error.found) }
    }
}

/// Reads an integer as Lua's `math.tointeger` does: integers, and floats with
/// an exact integral value; then checks that it fits `T`.
func luaInteger<T: FixedWidthInteger>(_ value: LuaValue, as type: T.Type) throws(LuaConversionError) -> T {
    let wide: Int64
    switch value {
    case .integer(let i): wide = i
    case .number(let d):
        // 2^63 is exactly representable; every float below it in magnitude converts exactly.
        guard d.rounded(.towardZero) == d, d >= -9_223_372_036_854_775_808.0, d < 9_223_372_036_854_775_808.0 else {
            throw LuaConversionError(expected: "\(T.self)", found: d.isFinite ? "float with a fraction or out of range" : "float \(LuaValue.formatNumber(d))")
        }
        wide = Int64(d)
    default: throw LuaConversionError(expected: "\(T.self)", found: value.conversionName)
    }
    guard let exact = T(exactly: wide) else {
        throw LuaConversionError(expected: "\(T.self)", found: "integer \(wide) out of range")
    }
    return exact
}

extension Int: LuaRepresentable, LuaConvertible {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer, or a float with an integral value.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: Int.self) }
}

extension Int64: LuaRepresentable, LuaConvertible {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(self) }
    /// Reads an integer, or a float with an integral value.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: Int64.self) }
}

extension Int32: LuaRepresentable, LuaConvertible {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer that fits 32 bits, or such a float with an integral value.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: Int32.self) }
}

extension UInt32: LuaRepresentable, LuaConvertible {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads a non-negative integer that fits 32 bits.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: UInt32.self) }
}

// MARK: - Containers

extension Optional: LuaRepresentable where Wrapped: LuaRepresentable {
    /// `nil` for `.none`, else the wrapped value's.
    public var luaValue: LuaValue { self?.luaValue ?? .nil }
}

extension Optional: LuaConvertible where Wrapped: LuaConvertible {
    /// `nil` reads as `.none`; anything else must hold a `Wrapped`.
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        if case .nil = value { self = .none } else { self = .some(try Wrapped(luaValue: value)) }
    }
}

extension Array: LuaRepresentable where Element: LuaRepresentable {
    /// A sequence table `{e1, e2, ...}`. A nil element leaves a hole, and Lua
    /// does not then see the elements after it as part of the sequence.
    public var luaValue: LuaValue { .table(LuaTable(array: map(\.luaValue))) }
}

extension Array: LuaConvertible where Element: LuaConvertible {
    /// Reads a sequence `{e1, ..., en}` (an empty table is an empty array).
    /// A table with other keys is not an array and is refused.
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .table(let t) = value else {
            throw LuaConversionError(expected: "[\(Element.self)]", found: value.conversionName)
        }
        guard t.hash.isEmpty else {
            throw LuaConversionError(expected: "[\(Element.self)]", found: "table with keys other than 1...n")
        }
        var elements: [Element] = []
        elements.reserveCapacity(t.array.count)
        for (i, v) in t.array.enumerated() {
            do { elements.append(try Element(luaValue: v)) } catch { throw error.inside("[\(i + 1)]") }
        }
        self = elements
    }
}

extension Dictionary: LuaRepresentable where Key: LuaRepresentable, Value: LuaRepresentable {
    /// A table with these entries (integer keys `1...n` form its sequence part).
    public var luaValue: LuaValue {
        var entries: [LuaValue: LuaValue] = [:]
        entries.reserveCapacity(count)
        for (k, v) in self { entries[k.luaValue] = v.luaValue }
        return .table(LuaTable(entries: entries))
    }
}

extension Dictionary: LuaConvertible where Key: LuaConvertible, Value: LuaConvertible {
    /// Reads every entry of a table, its sequence part included (keyed `1...n`).
    public init(luaValue value: LuaValue) throws(LuaConversionError) {
        guard case .table(let t) = value else {
            throw LuaConversionError(expected: "[\(Key.self): \(Value.self)]", found: value.conversionName)
        }
        var result: [Key: Value] = [:]
        result.reserveCapacity(t.array.count + t.hash.count)
        for (i, v) in t.array.enumerated() {
            let k = LuaValue.integer(Int64(i + 1))
            try Self.add(k, v, to: &result)
        }
        for (k, v) in t.hash { try Self.add(k, v, to: &result) }
        self = result
    }

    private static func add(_ k: LuaValue, _ v: LuaValue, to result: inout [Key: Value]) throws(LuaConversionError) {
        let key: Key
        do { key = try Key(luaValue: k) } catch { throw error.inside("(key \(k))") }
        do { result[key] = try Value(luaValue: v) } catch { throw error.inside(k.pathComponent) }
    }
}
