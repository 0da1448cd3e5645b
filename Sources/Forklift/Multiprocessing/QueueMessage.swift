internal import CLua

/// The messages a queue carries: codec messages (`Codec`), with a short cut
/// for the commonest single values. A nil, boolean, number or string is
/// written in the codec's own format without the general encoder, and a
/// string's bytes go straight from the Lua string into the queue; such
/// messages are read back without the general decoder too.
enum QueueMessage {
    /// Calls `body` with the message for the value at `index`, in two parts
    /// (`prefix` then `body`), so a string is never copied before the queue.
    /// `references`: the shared blocks (queues, values, locks...) the message
    /// names as handles.
    static func withMessage<R>(
        _ lua: Lua, at index: Int32, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, [Int]) -> R
    ) throws(NotSendableError) -> R {
        let L = lua.L
        let type = lua_type(L, index)
        if type != LUA_TNIL && type != LUA_TBOOLEAN && type != LUA_TNUMBER && type != LUA_TSTRING {
            let outer = SharedReferences.captured
            SharedReferences.captured = []
            defer { SharedReferences.captured = outer }
            let message = try Codec.encode(lua, from: index, count: 1)
            return body(UnsafeRawBufferPointer(start: nil, count: 0), message.bytes, SharedReferences.captured ?? [])
        }
        return withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { scratch in
            guard let p = scratch.baseAddress else { return body(UnsafeRawBufferPointer(scratch), UnsafeRawBufferPointer(start: nil, count: 0), []) }
            p.storeBytes(of: CodecFormat.version, as: UInt8.self)
            p.storeBytes(of: 1, toByteOffset: 1, as: UInt8.self)
            var n = 3
            var payload = UnsafeRawBufferPointer(start: nil, count: 0)
            switch type {
            case LUA_TNIL:
                p.storeBytes(of: CodecFormat.tagNil, toByteOffset: 2, as: UInt8.self)
            case LUA_TBOOLEAN:
                p.storeBytes(of: lua_toboolean(L, index) != 0 ? CodecFormat.tagTrue : CodecFormat.tagFalse, toByteOffset: 2, as: UInt8.self)
            case LUA_TNUMBER:
                if forklift_isinteger(L, index) != 0 {
                    p.storeBytes(of: CodecFormat.tagInteger, toByteOffset: 2, as: UInt8.self)
                    n = appendVarint(p, n, CodecFormat.zigzag(lua_tointegerx(L, index, nil)))
                } else {
                    p.storeBytes(of: CodecFormat.tagFloat, toByteOffset: 2, as: UInt8.self)
                    p.storeBytes(of: lua_tonumberx(L, index, nil).bitPattern.littleEndian, toByteOffset: 3, as: UInt64.self)
                    n = 11
                }
            default:  // LUA_TSTRING
                var length = 0
                let s = forklift_tolstring(L, index, &length)
                p.storeBytes(of: CodecFormat.tagString, toByteOffset: 2, as: UInt8.self)
                n = appendVarint(p, n, UInt64(length))
                payload = UnsafeRawBufferPointer(start: s, count: length)
            }
            return body(UnsafeRawBufferPointer(start: p, count: n), payload, [])
        }
    }

    @inline(__always) private static func appendVarint(_ p: UnsafeMutableRawPointer, _ at: Int, _ value: UInt64) -> Int {
        var v = value, i = at
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
            i += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
        return i + 1
    }

    /// Pushes the one value of `message`.
    static func push(_ lua: Lua, _ message: UnsafeRawBufferPointer) throws(DecodeError) {
        let L = lua.L
        if message.count >= 3, message[0] == CodecFormat.version, message[1] == 1 {
            var reader = ByteReader(message)
            reader.offset = 3
            switch message[2] {
            case CodecFormat.tagNil where message.count == 3:
                lua_pushnil(L)
                return
            case CodecFormat.tagFalse where message.count == 3, CodecFormat.tagTrue where message.count == 3:
                lua_pushboolean(L, message[2] == CodecFormat.tagTrue ? 1 : 0)
                return
            case CodecFormat.tagInteger:
                let v = try reader.readVarint()
                if reader.isAtEnd {
                    lua_pushinteger(L, CodecFormat.unzigzag(v))
                    return
                }
            case CodecFormat.tagFloat where message.count == 11:
                lua_pushnumber(L, Double(bitPattern: try reader.read(UInt64.self)))
                return
            case CodecFormat.tagString:
                let n = try reader.readLength()
                if reader.remaining == n {
                    let bytes = try reader.readBytes(n)
                    _ = lua_pushlstring(L, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), n)
                    return
                }
            default:
                break
            }
        }
        let count = try Codec.decode(lua, message)
        if count != 1 {
            lua.pop(count)
            throw DecodeError("a queue message holds \(count) values, not 1")
        }
    }
}
