/// Encodes `Encodable` Swift values as Lua values: structs and dictionaries
/// become tables with their keys, arrays become sequences, numbers, strings
/// and booleans become Lua's own.
///
/// ```swift
/// struct Point: Codable { var x: Double; var y: Double }
/// let t = try LuaValueEncoder().encode(Point(x: 1, y: 2))   // {x = 1.0, y = 2.0}
/// ```
/// Lua tables cannot hold `nil`: an optional property that is `nil` is left
/// out of the table, and a `nil` array element leaves a hole. Integer-valued
/// coding keys (as `[Int: V]` dictionaries use) become integer keys.
public struct LuaValueEncoder {
    /// Context for `encode(to:)` implementations, as in Foundation's encoders.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]

    /// An encoder with no user info.
    public init() {}

    /// Encodes `value` as a Lua value.
    /// - Throws: `EncodingError.invalidValue` for a value Lua cannot hold (an
    ///   unsigned integer above `Int64.max`), or what `value.encode(to:)` throws.
    public func encode<T: Encodable>(_ value: T) throws -> LuaValue {
        let node = EncodingNode()
        try value.encode(to: LuaEncoding(node: node, codingPath: [], userInfo: userInfo))
        return node.resolved
    }
}

/// What one encoded value became, filled in by whichever container it asked for.
final class EncodingNode {
    enum Content {
        case empty
        case value(LuaValue)
        case keyed([LuaValue: EncodingNode])
        case unkeyed([EncodingNode])
    }
    var content: Content = .empty

    var resolved: LuaValue {
        switch content {
        case .empty: return .nil
        case .value(let v): return v
        case .keyed(let entries):
            var table: [LuaValue: LuaValue] = [:]
            for (k, node) in entries { table[k] = node.resolved }
            return .table(LuaTable(entries: table))
        case .unkeyed(let nodes):
            return .table(LuaTable(array: nodes.map(\.resolved)))
        }
    }

    /// Adds a child under `key`, turning this node into a keyed one if needed.
    func child(for key: LuaValue) -> EncodingNode {
        var entries: [LuaValue: EncodingNode]
        if case .keyed(let e) = content { entries = e } else { entries = [:] }
        if let existing = entries[key] { return existing }
        let node = EncodingNode()
        entries[key] = node
        content = .keyed(entries)
        return node
    }

    /// Appends an element, turning this node into an unkeyed one if needed.
    func appendChild() -> EncodingNode {
        var nodes: [EncodingNode]
        if case .unkeyed(let n) = content { nodes = n } else { nodes = [] }
        let node = EncodingNode()
        nodes.append(node)
        content = .unkeyed(nodes)
        return node
    }

    func becomeKeyed() { if case .keyed = content {} else { content = .keyed([:]) } }
    func becomeUnkeyed() { if case .unkeyed = content {} else { content = .unkeyed([]) } }
}

/// The Lua key a coding key stands for: an integer when the key is one
/// (`[Int: V]` dictionaries, `1`, `2`...), else its string.
func luaKey(_ key: some CodingKey) -> LuaValue {
    if let i = key.intValue, key.stringValue == String(i) { return .integer(Int64(i)) }
    return .string(LuaString(key.stringValue))
}

/// A coding key made here: an index inside unkeyed containers (0-based, as
/// Swift's) or `super`.
struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String
    init(_ i: Int) { intValue = i; stringValue = String(i) }
    init?(intValue: Int) { self.init(intValue) }
    init(stringValue: String) { intValue = nil; self.stringValue = stringValue }

    static let `super` = IndexKey(stringValue: "super")
}

struct LuaEncoding: Swift.Encoder {
    let node: EncodingNode
    let codingPath: [any CodingKey]
    let sendableUserInfo: [CodingUserInfoKey: any Sendable]
    var userInfo: [CodingUserInfoKey: Any] { sendableUserInfo }

    init(node: EncodingNode, codingPath: [any CodingKey], userInfo: [CodingUserInfoKey: any Sendable]) {
        self.node = node
        self.codingPath = codingPath
        self.sendableUserInfo = userInfo
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.becomeKeyed()
        return KeyedEncodingContainer(KeyedContainer<Key>(encoder: self))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.becomeUnkeyed()
        return UnkeyedContainer(encoder: self)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueContainer(encoder: self) }

    func nested(_ node: EncodingNode, key: any CodingKey) -> LuaEncoding {
        LuaEncoding(node: node, codingPath: codingPath + [key], userInfo: sendableUserInfo)
    }

    /// Stores a value, encoding it through its own `encode(to:)` unless it is one of Lua's scalars.
    static func store<T: Encodable>(_ value: T, in node: EncodingNode, encoder: LuaEncoding) throws {
        if let scalar = try scalar(value, codingPath: encoder.codingPath) {
            node.content = .value(scalar)
        } else {
            try value.encode(to: encoder)
        }
    }

    static func scalar<T>(_ value: T, codingPath: [any CodingKey]) throws -> LuaValue? {
        switch value {
        case let v as Bool: return .boolean(v)
        case let v as String: return .string(LuaString(v))
        case let v as Double: return .number(v)
        case let v as Float: return .number(Double(v))
        case let v as Int: return .integer(Int64(v))
        case let v as Int8: return .integer(Int64(v))
        case let v as Int16: return .integer(Int64(v))
        case let v as Int32: return .integer(Int64(v))
        case let v as Int64: return .integer(v)
        case let v as UInt8: return .integer(Int64(v))
        case let v as UInt16: return .integer(Int64(v))
        case let v as UInt32: return .integer(Int64(v))
        case let v as UInt: return try unsigned(UInt64(v), codingPath: codingPath)
        case let v as UInt64: return try unsigned(v, codingPath: codingPath)
        default: return nil
        }
    }

    static func unsigned(_ v: UInt64, codingPath: [any CodingKey]) throws -> LuaValue {
        guard let i = Int64(exactly: v) else {
            throw EncodingError.invalidValue(
                v, .init(codingPath: codingPath, debugDescription: "\(v) does not fit a Lua integer (64-bit signed)"))
        }
        return .integer(i)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: LuaEncoding
    var codingPath: [any CodingKey] { encoder.codingPath }

    // Absence is Lua's nil: nothing to store.
    mutating func encodeNil(forKey key: Key) throws {}

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let child = encoder.node.child(for: luaKey(key))
        try LuaEncoding.store(value, in: child, encoder: encoder.nested(child, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let child = encoder.node.child(for: luaKey(key))
        return encoder.nested(child, key: key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = encoder.node.child(for: luaKey(key))
        return encoder.nested(child, key: key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Swift.Encoder {
        encoder.nested(encoder.node.child(for: "super"), key: IndexKey.super)
    }

    mutating func superEncoder(forKey key: Key) -> any Swift.Encoder {
        encoder.nested(encoder.node.child(for: luaKey(key)), key: key)
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: LuaEncoding
    var codingPath: [any CodingKey] { encoder.codingPath }
    var count: Int {
        if case .unkeyed(let nodes) = encoder.node.content { return nodes.count }
        return 0
    }

    mutating func encodeNil() throws { _ = encoder.node.appendChild() }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let key = IndexKey(count)
        let child = encoder.node.appendChild()
        try LuaEncoding.store(value, in: child, encoder: encoder.nested(child, key: key))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let key = IndexKey(count)
        return encoder.nested(encoder.node.appendChild(), key: key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let key = IndexKey(count)
        return encoder.nested(encoder.node.appendChild(), key: key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Swift.Encoder {
        let key = IndexKey(count)
        return encoder.nested(encoder.node.appendChild(), key: key)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let encoder: LuaEncoding
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { encoder.node.content = .value(.nil) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try LuaEncoding.store(value, in: encoder.node, encoder: encoder)
    }
}
