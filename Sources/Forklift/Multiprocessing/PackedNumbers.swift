internal import CLua

/// A run of table items that are all integers, or all floats, written as raw
/// 8-byte values instead of one tagged codec value each.
///
/// A pool's chunk of a numeric map (`pool:map(f, {1, 2, 3, ...})`) and its
/// results are such runs. The generic codec spends a type switch, a tag and a
/// varint per item; a packed run reads each item with one `lua_rawgeti` and
/// one conversion, writes it with one store, and decodes with one push and one
/// `lua_rawseti`. Integers and floats are never mixed in one run, so every
/// value arrives with its own subtype (`3` stays an integer, `3.0` a float).
///
/// Layout: a kind byte (`Kind`), then for `.integers`/`.floats` the items as
/// little-endian 64-bit values; `.values` means "generic codec values follow".
enum PackedNumbers {
    enum Kind: UInt8 {
        case values = 0
        case integers = 1
        case floats = 2
    }

    /// Runs shorter than this are not worth the trial pass.
    static let minimumCount: Int64 = 4

    /// Items pushed before the stack is popped in one `lua_settop`.
    private static let stackRun: Int64 = 256

    /// Appends `.integers` or `.floats` and `table[first...last]` when every
    /// item is a number of the subtype of the first (holes and other types
    /// say no). On false `out` is as it was and the stack is unchanged.
    static func encode(_ L: OpaquePointer, table: Int32, first: Int64, last: Int64, into out: inout ByteWriter) -> Bool {
        let count = last - first + 1
        guard count >= minimumCount, lua_checkstack(L, Int32(stackRun) + 2) != 0 else { return false }
        let base = lua_gettop(L)
        guard lua_rawgeti(L, table, first) == LUA_TNUMBER else {
            lua_settop(L, base)
            return false
        }
        let integers = lua_isinteger(L, -1) != 0
        lua_settop(L, base)
        let mark = out.count
        out.append((integers ? Kind.integers : Kind.floats).rawValue)
        out.reserve(Int(count) * 8)
        // `reserve` made room for every item: store straight into it.
        let start = out.base + out.count
        var i = first
        var slot = 0
        while i <= last {
            let end = min(last, i + stackRun - 1)
            while i <= end {
                guard lua_rawgeti(L, table, i) == LUA_TNUMBER, (lua_isinteger(L, -1) != 0) == integers else {
                    lua_settop(L, base)
                    out.count = mark
                    return false
                }
                if integers {
                    (start + slot).storeBytes(of: lua_tointegerx(L, -1, nil).littleEndian, as: Int64.self)
                } else {
                    (start + slot).storeBytes(of: lua_tonumberx(L, -1, nil).bitPattern.littleEndian, as: UInt64.self)
                }
                slot += 8
                i += 1
            }
            lua_settop(L, base)
        }
        out.count += slot
        return true
    }

    /// Reads `count` packed items of `kind` and stores them at
    /// `table[offset + 1 ...]` (a stack index).
    static func decode(
        _ L: OpaquePointer, _ kind: Kind, count: Int, from reader: inout ByteReader, table: Int32, offset: Int64
    ) throws(DecodeError) {
        guard count <= reader.remaining / 8 else { throw DecodeError("packed item count exceeds the message") }
        let bytes = try reader.readBytes(count * 8)
        guard let p = bytes.baseAddress else { return }
        switch kind {
        case .integers:
            for k in 0..<count {
                lua_pushinteger(L, Int64(littleEndian: p.loadUnaligned(fromByteOffset: k * 8, as: Int64.self)))
                lua_rawseti(L, table, offset + Int64(k) + 1)
            }
        case .floats:
            for k in 0..<count {
                let bits = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: k * 8, as: UInt64.self))
                lua_pushnumber(L, Double(bitPattern: bits))
                lua_rawseti(L, table, offset + Int64(k) + 1)
            }
        case .values:
            break
        }
    }
}
