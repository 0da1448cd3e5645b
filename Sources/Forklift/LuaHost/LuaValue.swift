internal import Glibc

/// A Lua string: a sequence of bytes, not necessarily UTF-8.
public struct LuaString: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible,
    Comparable
{
    /// The bytes, as Lua holds them.
    public var bytes: [UInt8]

    /// A string of these bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The UTF-8 bytes of `string`.
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    /// The UTF-8 bytes of the literal.
    public init(stringLiteral value: String) { self.init(value) }

    /// The text, when the bytes are valid UTF-8.
    public var string: String? { String(validating: bytes, as: UTF8.self) }

    /// The text, with invalid UTF-8 repaired (for messages and printing).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// Byte-wise order (Lua compares strings with `strcoll`, which is this in the C locale).
    public static func < (a: LuaString, b: LuaString) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// A Lua table read into Swift: its sequence part `1...n` and its other keys.
public struct LuaTable: Sendable, Hashable {
    /// Values at keys `1...array.count` (no holes: the first nil ends the sequence).
    public var array: [LuaValue]
    /// Every other key.
    public var hash: [LuaValue: LuaValue]

    /// A table with this sequence part and these other keys (see `init(entries:)` to normalise).
    public init(array: [LuaValue] = [], hash: [LuaValue: LuaValue] = [:]) {
        self.array = array
        self.hash = hash
    }

    /// Looks a key up as Lua would (integer keys inside the sequence hit `array`).
    public subscript(key: LuaValue) -> LuaValue {
        if case .integer(let i) = key, i >= 1, i <= array.count { return array[Int(i) - 1] }
        return hash[key] ?? .nil
    }

    /// Looks a string key up (`t.name`).
    public subscript(key: String) -> LuaValue { self[.string(LuaString(key))] }
}

/// A reference to a Lua object that lives only inside its state (a function,
/// userdata or coroutine read into Swift). It keeps the object alive through a
/// registry reference; use it only on the thread that owns the state.
public final class LuaReference: @unchecked Sendable, Hashable {
    let reference: Int32
    weak var owner: LuaState?

    init(reference: Int32, owner: LuaState) {
        self.reference = reference
        self.owner = owner
    }

    deinit { owner?.releaseReference(reference) }

    /// The same reference (two reads of one Lua object are different references).
    public static func == (a: LuaReference, b: LuaReference) -> Bool { a === b }
    /// Hashes the reference's identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}

/// One Lua value, as Swift sees it.
public enum LuaValue: Sendable, Hashable, CustomStringConvertible {
    /// `nil`: absent, or Lua's nil.
    case `nil`
    /// `true` or `false`.
    case boolean(Bool)
    /// An integer (`math.type(v) == "integer"`).
    case integer(Int64)
    /// A float (`math.type(v) == "float"`).
    case number(Double)
    /// A string: bytes, not necessarily UTF-8.
    case string(LuaString)
    /// A table, copied into Swift (changing it does not change the Lua table).
    case table(LuaTable)
    /// A function, kept alive in its state by the reference.
    case function(LuaReference)
    /// A full userdata, kept alive in its state by the reference.
    case userdata(LuaReference)
    /// A coroutine, kept alive in its state by the reference.
    case thread(LuaReference)
    /// A light userdata: a bare pointer value.
    case lightUserdata(UInt)

    /// The Lua type name (`type(v)` in Lua).
    public var typeName: String {
        switch self {
        case .nil: "nil"
        case .boolean: "boolean"
        case .integer, .number: "number"
        case .string: "string"
        case .table: "table"
        case .function: "function"
        case .userdata, .lightUserdata: "userdata"
        case .thread: "thread"
        }
    }

    /// The value as Lua's `tostring` prints it, for plain values; a type name for the others.
    public var description: String {
        switch self {
        case .nil: "nil"
        case .boolean(let b): b ? "true" : "false"
        case .integer(let i): String(i)
        case .number(let d): LuaValue.formatNumber(d)
        case .string(let s): s.description
        case .table: "table"
        case .function: "function"
        case .userdata, .lightUserdata: "userdata"
        case .thread: "thread"
        }
    }

    /// Formats a float as Lua's `%.14g` (with `.0` added to integral values).
    static func formatNumber(_ d: Double) -> String {
        if d.isNaN { return d.sign == .minus ? "-nan" : "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([d]) { vsnprintf(&buffer, 64, "%.14g", $0) }
        var text = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let looksIntegral = !text.contains(".") && !text.contains("e") && !text.contains("n") && !text.contains("i")
        if looksIntegral { text += ".0" }
        return text
    }
}

extension LuaValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral
{
    /// `nil`.
    public init(nilLiteral: ()) { self = .nil }
    /// A boolean.
    public init(booleanLiteral value: Bool) { self = .boolean(value) }
    /// An integer.
    public init(integerLiteral value: Int64) { self = .integer(value) }
    /// A float.
    public init(floatLiteral value: Double) { self = .number(value) }
    /// A string of the literal's UTF-8 bytes.
    public init(stringLiteral value: String) { self = .string(LuaString(value)) }
}
