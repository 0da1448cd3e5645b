internal import CLua

/// Batches: the pool's messages. A batch is a codec message holding a few
/// header values and then `count` items taken straight from a slice of a Lua
/// table (`src[i..j]`, holes included) and decoded straight into a table, so
/// a chunk of a million-item map never exists as an intermediate table.
///
/// Layout after the version byte: varint h, h header values, varint count,
/// count item values.
enum CodecBatch {
    /// Encodes header values (stack `headerIndex`, `headerCount` of them) and
    /// `table[first...last]` (the table at `tableIndex`).
    static func encode(
        _ lua: Lua, headerIndex: Int32, headerCount: Int32, tableIndex: Int32, first: Int64, last: Int64,
        reservingHeader frameHeader: Int = 0
    ) throws(NotSendableError) -> ByteWriter {
        var encoder = Encoder(lua, capacity: 64 + Int(max(0, last - first + 1)) * 9, reserving: frameHeader)
        let h = lua.absolute(headerIndex)
        encoder.out.appendVarint(UInt64(max(headerCount, 0)))
        for k in 0..<max(headerCount, 0) { try encoder.encode(at: h + k, root: "header") }
        let count = max(0, last - first + 1)
        encoder.out.appendVarint(UInt64(count))
        if count > 0 {
            let t = lua.absolute(tableIndex)
            var i = first
            while i <= last {
                lua_rawgeti(lua.L, t, i)
                do { try encoder.encode(at: -1, root: "[\(i)]") } catch {
                    lua.pop()
                    throw error
                }
                lua.pop()
                i += 1
            }
        }
        return encoder.out
    }

    /// Decodes a batch: pushes the header values, then the table of the
    /// items: a new one, or with `into` (a stack index) that table, the items
    /// stored at `offset + 1 ...` (the pool decodes results straight into the
    /// job's result list). Returns the number of values pushed. On error
    /// nothing is pushed.
    static func decode(_ lua: Lua, _ bytes: UnsafeRawBufferPointer, into: Int32? = nil, offset: Int64 = 0)
        throws(DecodeError) -> Int32
    {
        let top = lua.top
        let destination = into.map { lua.absolute($0) }
        var decoder = try Decoder(lua, bytes: bytes)
        do throws(DecodeError) {
            let headerCount = try decoder.reader.readVarint()
            guard headerCount <= 64 else { throw DecodeError("batch header of \(headerCount) values") }
            guard lua.checkStack(Int32(headerCount) + 8) else { throw DecodeError("Lua stack exhausted") }
            for _ in 0..<headerCount { try decoder.decode() }
            let count = try decoder.reader.readVarint()
            guard count <= UInt64(decoder.reader.remaining) else { throw DecodeError("item count exceeds the message") }
            let L = lua.L
            let target: Int32
            if let destination {
                lua.pushValue(at: destination)
                target = lua.top
            } else {
                lua_createtable(L, Int32(clamping: count), 0)
                target = lua.top
            }
            var i: Int64 = 1
            while i <= Int64(count) {
                try decoder.decode()
                lua_rawseti(L, target, offset + i)
                i += 1
            }
            guard decoder.reader.isAtEnd else { throw DecodeError("stray bytes after the batch") }
            decoder.finish()
            return Int32(headerCount) + 1
        } catch {
            lua.top = top
            throw error
        }
    }
}
