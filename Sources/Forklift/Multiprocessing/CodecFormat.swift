/// The wire format of values crossing between Forklift processes.
///
/// A message is `version` followed by values. Each value starts with a tag:
///
/// | tag | value | then |
/// |---|---|---|
/// | nil/false/true | | nothing |
/// | integer | Lua integer (64 bits) | zigzag varint |
/// | float | Lua float (NaN payloads, ±inf, -0.0 kept) | 8 bytes, IEEE 754 bits |
/// | string | bytes | varint length, bytes |
/// | table | new table, gets the next reference id | u32 n, n sequence values (keys 1...n), u32 m, m key/value pairs |
/// | reference | a table or function seen earlier in this message | varint id |
/// | function | Lua function, gets the next reference id | varint length, `lua_dump` bytes, u64 checksum, varint n, n upvalues |
/// | joinedUpvalue | (only as an upvalue) shares another function's upvalue | varint function id, varint upvalue index |
/// | module | `package.loaded[name]` of the receiver | varint length, name |
/// | cFunction | `package.loaded[module][key]` of the receiver | module name, key name (each varint length + bytes) |
/// | object | a module object (Queue, Value, ...) as a handle | type tag byte, handle bytes |
/// | metatable | (only before a table) the table gets a metatable | the table, then the metatable value |
/// | namedMetatable | (only before a table) the receiver's `luaL_getmetatable(name)` | varint length, name, the table |
enum CodecFormat {
    /// Bumped whenever the format changes; a mismatch is refused on decode.
    static let version: UInt8 = 2

    static let tagNil: UInt8 = 0
    static let tagFalse: UInt8 = 1
    static let tagTrue: UInt8 = 2
    static let tagInteger: UInt8 = 3
    static let tagFloat: UInt8 = 4
    static let tagString: UInt8 = 5
    static let tagTable: UInt8 = 6
    static let tagReference: UInt8 = 7
    static let tagFunction: UInt8 = 8
    static let tagJoinedUpvalue: UInt8 = 9
    static let tagModule: UInt8 = 10
    static let tagCFunction: UInt8 = 11
    static let tagObject: UInt8 = 12
    static let tagMetatable: UInt8 = 13
    static let tagNamedMetatable: UInt8 = 14

    /// Deepest nesting of tables/functions accepted both ways (keeps a hostile
    /// or runaway message from exhausting the C or Lua stack).
    static let maxDepth = 200

    /// FNV-1a over a function's bytecode. Lua's `load` trusts binary chunks
    /// (corrupt bytecode can crash the interpreter), so bytes damaged on the way
    /// are refused before they reach it.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    @inline(__always) static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }
}
