internal import CLua

/// Whole messages: what the runtime's transports (pipes, queues, pools) call.
enum Codec {
    /// Encodes the `count` values starting at stack `index` as one message.
    /// `roots` names them in errors (`args[1]`...); default `value`.
    static func encode(_ lua: Lua, from index: Int32, count: Int32, root: String = "value")
        throws(NotSendableError) -> ByteWriter
    {
        var encoder = Encoder(lua)
        let first = lua.absolute(index)
        encoder.out.appendVarint(UInt64(max(count, 0)))
        for i in 0..<max(count, 0) {
            try encoder.encode(at: first + i, root: count == 1 ? root : "\(root)[\(i + 1)]")
        }
        return encoder.out
    }

    /// Decodes a message and pushes its values; returns how many.
    /// On error nothing is pushed.
    static func decode(_ lua: Lua, _ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Int32 {
        let top = lua.top
        var decoder = try Decoder(lua, bytes: bytes)
        do throws(DecodeError) {
            let count = try decoder.reader.readVarint()
            guard count <= UInt64(decoder.reader.remaining) else { throw DecodeError("value count exceeds the message") }
            guard lua.checkStack(Int32(count) + 8) else { throw DecodeError("too many values for the Lua stack") }
            for _ in 0..<count { try decoder.decode() }
            guard decoder.reader.isAtEnd else { throw DecodeError("\(decoder.reader.remaining) stray bytes after the values") }
            decoder.finish()
            return Int32(count)
        } catch {
            lua.top = top
            throw error
        }
    }

    /// Lua: `mp._encode(...)` → string, raising `NotSendable`.
    static let luaEncode: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        do throws(NotSendableError) {
            let message = try encode(lua, from: 1, count: lua.top)
            lua.push(bytes: message.bytes)
            return 1
        } catch {
            return ModuleError.raise(lua, .notSendable, error.description)
        }
    }

    /// Lua: `mp._decode(s)` → the values, raising `ValueError` on malformed input.
    static let luaDecode: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let bytes = lua.stringBytes(1) else {
            return ModuleError.raise(lua, .valueError, "decode expects a string, got \(lua.typeName(at: 1))")
        }
        do throws(DecodeError) {
            return try decode(lua, bytes)
        } catch {
            return ModuleError.raise(lua, .valueError, "malformed message: \(error.description)")
        }
    }
}
