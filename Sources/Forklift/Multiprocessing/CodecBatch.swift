internal import CLua

/// Batches: the pool's messages. A batch is a codec message holding a few
/// header values and then `count` items taken straight from a slice of a Lua
/// table (`src[i..j]`, holes included) and decoded straight into a table, so
/// a chunk of a million-item map never exists as an intermediate table.
///
/// Layout after the version byte: varint h, h header values, varint count,
/// then the items: a `PackedNumbers.Kind` byte and, for `.values`, count
/// codec values, else count raw 8-byte numbers.
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
            var t = lua.absolute(tableIndex)
            // A worker's packed map block: its results as they are, or the
            // table they spilled into.
            if let block = PackedMapBlock.at(lua, t) {
                if PackedMapBlock.appendPackedResults(block, into: &encoder.out) { return encoder.out }
                lua_getiuservalue(lua.L, t, 1)
                t = lua.top
            }
            defer { if t != lua.absolute(tableIndex) { lua.pop() } }
            if PackedNumbers.encode(lua.L, table: t, first: first, last: last, into: &encoder.out) {
                return encoder.out
            }
            encoder.out.append(PackedNumbers.Kind.values.rawValue)
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
    ///
    /// With `packedAsBlock` (the worker), packed numbers become a
    /// `PackedMapBlock` instead of a table.
    static func decode(
        _ lua: Lua, _ bytes: UnsafeRawBufferPointer, into: Int32? = nil, offset: Int64 = 0, packedAsBlock: Bool = false
    ) throws(DecodeError) -> Int32 {
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
            if packedAsBlock, destination == nil, count > 0,
                let kind = PackedNumbers.Kind(rawValue: decoder.reader.base.load(fromByteOffset: decoder.reader.offset, as: UInt8.self)),
                kind != .values
            {
                _ = try decoder.reader.readByte()
                guard count <= UInt64(decoder.reader.remaining / 8) else {
                    throw DecodeError("packed item count exceeds the message")
                }
                let bytes = try decoder.reader.readBytes(Int(count) * 8)
                guard decoder.reader.isAtEnd else { throw DecodeError("stray bytes after the batch") }
                PackedMapBlock.push(lua, kind: kind, count: Int(count), bytes: bytes)
                decoder.finish()
                return Int32(headerCount) + 1
            }
            let target: Int32
            if let destination {
                lua.pushValue(at: destination)
                target = lua.top
            } else {
                lua_createtable(L, Int32(clamping: count), 0)
                target = lua.top
            }
            let packing = count > 0 ? try decoder.reader.readByte() : PackedNumbers.Kind.values.rawValue
            guard let kind = PackedNumbers.Kind(rawValue: packing) else {
                throw DecodeError("unknown item packing \(packing)")
            }
            if kind == .values {
                var i: Int64 = 1
                while i <= Int64(count) {
                    try decoder.decode()
                    lua_rawseti(L, target, offset + i)
                    i += 1
                }
            } else {
                try PackedNumbers.decode(L, kind, count: Int(count), from: &decoder.reader, table: target, offset: offset)
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
