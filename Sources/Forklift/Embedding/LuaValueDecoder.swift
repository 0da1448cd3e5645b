/// Decodes `Decodable` Swift values from Lua values: the reverse of
/// `LuaValueEncoder`, so Swift structs round-trip through Lua tables.
///
/// ```swift
/// let p = try LuaValueDecoder().decode(Point.self, from: host.evaluate("{x = 1, y = 2}")[0])
/// ```
/// A missing key and a `nil` value are the same in Lua: both decode as `nil`
/// for an optional property and are `keyNotFound` for a required one.
/// Numbers follow `LuaConvertible`: a float with an integral value decodes as
/// an integer, an integer as a floating-point number; nothing else is coerced.
public struct LuaValueDecoder {
    /// Context for `init(from:)` implementations, as in Foundation's decoders.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// A decoder with no user info.
    public init() {}

    /// Decodes a `T` from `value`.
    /// - Throws: `DecodingError` (`typeMismatch`, `keyNotFound`,
    ///   `valueNotFound`) with the coding path of the offending value.
    public func decode<T: Decodable>(_ type: T.Type, from value: LuaValue) throws -> T {
        try LuaDecoding(value: value, codingPath: [], userInfo: userInfo).decodeValue(T.self)
    }
}

struct LuaDecoding: Swift.Decoder {
    let value: LuaValue
    let codingPath: [any CodingKey]
    let sendableUserInfo: [CodingUserInfoKey: any Sendable]
    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }

    init(value: LuaValue, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) {
        self.value = value
        self.codingPath = codingPath
        self.sendableUserInfo = userInfo
    }

    func nested(_ value: LuaValue, key: any CodingKey) -> LuaDecoding {
        LuaDecoding(value: value, codingPath: codingPath + [key], userInfo: sendableUserInfo)
    }

    func table(for expected: Any.Type) throws -> LuaTable {
        guard case .table(let t) = value else {
            throw DecodingError.typeMismatch(
                expected, .init(codingPath: codingPath, debugDescription: "expected a table, found \(value.conversionName)"))
        }
        return t
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, table: try table(for: [String: Any].self)))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let t = try table(for: [Any].self)
        // Holes left by nil elements put later elements in the hash part: the
        // sequence runs to the largest positive integer key, if every key is one.
        var count = t.array.count
        for key in t.hash.keys {
            guard case .integer(let i) = key, i > count else {
                throw DecodingError.typeMismatch(
                    [Any].self,
                    .init(codingPath: codingPath, debugDescription: "expected a sequence, found a table with key \(key)"))
            }
            count = Int(i)
        }
        return UnkeyedContainer(decoder: self, table: t, count: count)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    /// Decodes the held value as `T`, reading Lua's scalars directly.
    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        if let converter = T.self as? any LuaScalarDecodable.Type {
            do {
                guard let v = try converter.init(luaValue: value) as? T else { throw mismatch(T.self, "unexpected type") }
                return v
            } catch let e as LuaConversionError {
                if case .nil = value {
                    throw DecodingError.valueNotFound(T.self, .init(codingPath: codingPath, debugDescription: "found nil"))
                }
                throw mismatch(T.self, e.description)
            }
        }
        return try T(from: self)
    }

    func mismatch(_ type: Any.Type, _ why: String) -> DecodingError {
        .typeMismatch(type, .init(codingPath: codingPath, debugDescription: why))
    }
}

/// The scalar types the decoder reads with their `LuaConvertible` conversion.
protocol LuaScalarDecodable: LuaConvertible {}
extension Bool: LuaScalarDecodable {}
extension String: LuaScalarDecodable {}
extension Double: LuaScalarDecodable {}
extension Float: LuaScalarDecodable {}
extension Int: LuaScalarDecodable {}
extension Int32: LuaScalarDecodable {}
extension Int64: LuaScalarDecodable {}
extension UInt32: LuaScalarDecodable {}
extension Int8: LuaScalarDecodable, LuaConvertible, LuaRepresentable {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer that fits 8 bits.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: Int8.self) }
}
extension Int16: LuaScalarDecodable, LuaConvertible, LuaRepresentable {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer that fits 16 bits.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: Int16.self) }
}
extension UInt8: LuaScalarDecodable, LuaConvertible, LuaRepresentable {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer in 0...255.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: UInt8.self) }
}
extension UInt16: LuaScalarDecodable, LuaConvertible, LuaRepresentable {
    /// A Lua integer.
    public var luaValue: LuaValue { .integer(Int64(self)) }
    /// Reads an integer in 0...65535.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: UInt16.self) }
}
extension UInt64: LuaScalarDecodable, LuaConvertible {
    /// Reads a non-negative integer.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: UInt64.self) }
}
extension UInt: LuaScalarDecodable, LuaConvertible {
    /// Reads a non-negative integer.
    public init(luaValue value: LuaValue) throws(LuaConversionError) { self = try luaInteger(value, as: UInt.self) }
}

/// The coding key for a Lua table key: integer keys get an `intValue`.
func codingKey<Key: CodingKey>(for key: LuaValue, as type: Key.Type) -> Key? {
    switch key {
    case .integer(let i):
        guard let n = Int(exactly: i) else { return nil }
        return Key(intValue: n) ?? Key(stringValue: String(n))
    case .string(let s):
        guard let text = s.string else { return nil }
        return Key(stringValue: text)
    default: return nil
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: LuaDecoding
    let table: LuaTable
    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        var keys: [Key] = []
        for i in table.array.indices { if let k = codingKey(for: .integer(Int64(i + 1)), as: Key.self) { keys.append(k) } }
        for k in table.hash.keys { if let key = codingKey(for: k, as: Key.self) { keys.append(key) } }
        return keys
    }

    func lookup(_ key: Key) -> LuaValue {
        let primary = luaKey(key)
        let found = table[primary]
        if case .nil = found, case .integer = primary { return table[key.stringValue] }
        return found
    }

    func contains(_ key: Key) -> Bool { lookup(key) != .nil }

    func decodeNil(forKey key: Key) throws -> Bool { lookup(key) == .nil }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let v = lookup(key)
        if case .nil = v, !(T.self is any OptionalDecodable.Type) {
            throw DecodingError.keyNotFound(
                key, .init(codingPath: codingPath, debugDescription: "no value for \"\(key.stringValue)\" (nil in Lua)"))
        }
        return try decoder.nested(v, key: key).decodeValue(T.self)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try decoder.nested(lookup(key), key: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder.nested(lookup(key), key: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Swift.Decoder { decoder.nested(table["super"], key: IndexKey.super) }
    func superDecoder(forKey key: Key) throws -> any Swift.Decoder { decoder.nested(lookup(key), key: key) }
}

/// Lets the keyed container tell `Optional` apart (a missing key is then `nil`).
protocol OptionalDecodable {}
extension Optional: OptionalDecodable {}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: LuaDecoding
    let table: LuaTable
    let elementCount: Int
    var currentIndex = 0

    init(decoder: LuaDecoding, table: LuaTable, count: Int) {
        self.decoder = decoder
        self.table = table
        self.elementCount = count
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { elementCount }
    var isAtEnd: Bool { currentIndex >= elementCount }

    func current() -> LuaValue { table[.integer(Int64(currentIndex + 1))] }

    mutating func next() throws -> LuaDecoding {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self,
                .init(codingPath: codingPath + [IndexKey(currentIndex)], debugDescription: "the sequence has ended"))
        }
        defer { currentIndex += 1 }
        return decoder.nested(current(), key: IndexKey(currentIndex))
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, current() == .nil else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next().decodeValue(T.self) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Swift.Decoder { try next() }
}

private struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: LuaDecoding
    var codingPath: [any CodingKey] { decoder.codingPath }
    func decodeNil() -> Bool { decoder.value == .nil }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self) }
}
