internal import CLua

/// Decodes values in the wire format of `CodecFormat` onto the Lua stack.
///
/// Every length is checked against what is left of the message before
/// anything is allocated, nesting is bounded, and keys Lua would reject (nil,
/// NaN) are refused, so malformed bytes give a `DecodeError`, never a crash,
/// a hang or a huge allocation.
struct Decoder {
    private let lua: Lua
    var reader: ByteReader
    /// Stack slot of the table holding this message's reference ids.
    private var referencesSlot: Int32 = 0
    private var nextReference: Int64 = 1
    private var depth = 0

    /// Starts decoding `bytes`, checking the format version, and pushes the
    /// table of reference ids (removed by `finish`).
    init(_ lua: Lua, bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        self.lua = lua
        self.reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == CodecFormat.version else {
            throw DecodeError("unknown message format version \(version)")
        }
        guard lua.checkStack(8) else { throw DecodeError("Lua stack exhausted") }
        lua.newTable()
        referencesSlot = lua.top
    }

    /// Decodes the next value and pushes it. On error nothing is pushed.
    mutating func decode() throws(DecodeError) {
        let top = lua.top
        do {
            try decodeValue()
        } catch {
            lua.top = top
            throw error
        }
    }

    /// Removes the reference table, leaving the decoded values in its place.
    mutating func finish() {
        if referencesSlot != 0 {
            forklift_remove(lua.L, referencesSlot)
            referencesSlot = 0
        }
    }

    private mutating func enter() throws(DecodeError) {
        depth += 1
        guard depth <= CodecFormat.maxDepth else { throw DecodeError("nesting deeper than \(CodecFormat.maxDepth)") }
        guard lua.checkStack(8) else { throw DecodeError("Lua stack exhausted") }
    }

    private mutating func decodeValue() throws(DecodeError) {
        let L = lua.L
        let tag = try reader.readByte()
        switch tag {
        case CodecFormat.tagNil: lua_pushnil(L)
        case CodecFormat.tagFalse: lua_pushboolean(L, 0)
        case CodecFormat.tagTrue: lua_pushboolean(L, 1)
        case CodecFormat.tagInteger: lua_pushinteger(L, CodecFormat.unzigzag(try reader.readVarint()))
        case CodecFormat.tagFloat: lua_pushnumber(L, Double(bitPattern: try reader.read(UInt64.self)))
        case CodecFormat.tagString:
            let n = try reader.readLength()
            let bytes = try reader.readBytes(n)
            _ = lua_pushlstring(L, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), n)
        case CodecFormat.tagTable: try decodeTable()
        case CodecFormat.tagReference:
            let id = try reader.readVarint()
            guard id < UInt64(nextReference - 1) else {
                throw DecodeError("reference \(id) to an object not yet seen")
            }
            lua_rawgeti(L, referencesSlot, lua_Integer(id) + 1)
        case CodecFormat.tagFunction: try decodeFunction()
        case CodecFormat.tagModule: try pushModule(try readName())
        case CodecFormat.tagCFunction:
            let module = try readName()
            let key = try readName()
            try pushModule(module)
            guard lua.type(at: -1) == LUA_TTABLE else {
                lua.pop()
                throw DecodeError("module '\(module)' is not a table here")
            }
            lua.getField(-1, key)
            forklift_remove(L, -2)
            guard lua_iscfunction(L, -1) != 0 else {
                lua.pop()
                throw DecodeError("'\(module).\(key)' is not a C function here")
            }
        case CodecFormat.tagObject:
            let typeTag = try reader.readByte()
            guard let type = SendableObjects.type(tagged: typeTag) else {
                throw DecodeError("unknown object type \(typeTag)")
            }
            let top = lua.top
            if let problem = type.decode(lua, &reader) {
                lua.top = top
                throw DecodeError("cannot receive \(type.metatableName): \(problem)")
            }
            guard lua.top == top + 1 else {
                lua.top = top
                throw DecodeError("cannot receive \(type.metatableName)")
            }
        case CodecFormat.tagMetatable:
            // The metatable is decoded after the table's own level has ended:
            // count this level too, or a chain of metatables would recurse unbounded.
            try enter()
            defer { depth -= 1 }
            try expectTable(after: "metatable marker")
            try decodeTable()
            try decodeValue()
            guard lua.type(at: -1) == LUA_TTABLE else { throw DecodeError("metatable is not a table") }
            lua_setmetatable(L, -2)
        case CodecFormat.tagNamedMetatable:
            let name = try readName()
            try expectTable(after: "metatable name")
            try decodeTable()
            if name == ModuleError.metatableName {
                ModuleError.pushMetatable(lua)
            } else {
                lua_getfield(L, forklift_registryindex, name)
            }
            // A type this process never registered: the table arrives plain.
            if lua.type(at: -1) == LUA_TTABLE { lua_setmetatable(L, -2) } else { lua.pop() }
        case CodecFormat.tagJoinedUpvalue:
            throw DecodeError("shared-upvalue marker outside a function")
        default:
            throw DecodeError("unknown tag \(tag)")
        }
    }

    /// Consumes the table tag that must follow a metatable marker.
    private mutating func expectTable(after what: String) throws(DecodeError) {
        guard try reader.readByte() == CodecFormat.tagTable else {
            throw DecodeError("\(what) not followed by a table")
        }
    }

    private mutating func readName() throws(DecodeError) -> String {
        let n = try reader.readLength()
        return String(decoding: try reader.readBytes(n), as: UTF8.self)
    }

    /// Registers the object on top of the stack under the next reference id.
    private mutating func remember() {
        lua.pushValue(at: -1)
        lua_rawseti(lua.L, referencesSlot, nextReference)
        nextReference += 1
    }

    private mutating func decodeTable() throws(DecodeError) {
        try enter()
        defer { depth -= 1 }
        let L = lua.L
        let sequenceCount = Int(try reader.read(UInt32.self))
        // Each value takes at least one byte: a count beyond that is corrupt.
        guard sequenceCount <= reader.remaining else { throw DecodeError("table length exceeds the message") }
        lua_createtable(L, Int32(sequenceCount), 0)
        remember()
        let table = lua.top
        for i in 0..<sequenceCount {
            try decodeValue()
            lua_rawseti(L, table, lua_Integer(i + 1))
        }
        let pairCount = Int(try reader.read(UInt32.self))
        guard pairCount <= reader.remaining / 2 else { throw DecodeError("table size exceeds the message") }
        for _ in 0..<pairCount {
            try decodeValue()
            switch lua.type(at: -1) {
            case LUA_TNIL:
                throw DecodeError("table key is nil")
            case LUA_TNUMBER:
                if forklift_isinteger(L, -1) == 0, lua_tonumberx(L, -1, nil).isNaN {
                    throw DecodeError("table key is NaN")
                }
            default: break
            }
            try decodeValue()
            lua_rawset(L, table)
        }
    }

    private mutating func decodeFunction() throws(DecodeError) {
        try enter()
        defer { depth -= 1 }
        let L = lua.L
        let n = try reader.readLength()
        let code = try reader.readBytes(n)
        guard try reader.read(UInt64.self) == CodecFormat.checksum(code) else {
            throw DecodeError("function bytecode damaged (checksum mismatch)")
        }
        let status = forklift_loadbuffer(
            L, code.baseAddress?.assumingMemoryBound(to: CChar.self), n, "=(received function)", "b")
        guard status == LUA_OK else {
            let message = lua.toString(-1) ?? "?"
            lua.pop()
            throw DecodeError("bad function bytecode: \(message)")
        }
        let functionID = nextReference
        remember()
        let function = lua.top
        let upvalueCount = try reader.readVarint()
        guard upvalueCount <= 255 else { throw DecodeError("too many upvalues (\(upvalueCount))") }
        for i in 0..<Int32(upvalueCount) {
            if reader.remaining > 0, reader.base.load(fromByteOffset: reader.offset, as: UInt8.self) == CodecFormat.tagJoinedUpvalue {
                reader.offset += 1
                let f = try reader.readVarint()
                let u = try reader.readVarint()
                guard f < UInt64(functionID), u >= 1, u <= 255 else { throw DecodeError("bad shared-upvalue marker") }
                lua_rawgeti(L, referencesSlot, lua_Integer(f) + 1)
                guard lua.type(at: -1) == LUA_TFUNCTION, lua_getupvalue(L, -1, Int32(u)) != nil else {
                    throw DecodeError("shared upvalue refers to a missing upvalue")
                }
                lua.pop()
                guard lua_getupvalue(L, function, i + 1) != nil else { throw DecodeError("function has fewer upvalues") }
                lua.pop()
                lua_upvaluejoin(L, function, i + 1, -1, Int32(u))
                lua.pop()
                continue
            }
            try decodeValue()
            guard lua_setupvalue(L, function, i + 1) != nil else {
                lua.pop()
                throw DecodeError("function has fewer upvalues than the message")
            }
        }
    }

    /// Pushes `package.loaded[name]`, requiring the module when it is not loaded yet.
    private func pushModule(_ name: String) throws(DecodeError) {
        let L = lua.L
        lua.getField(forklift_registryindex, "_LOADED")
        if lua.type(at: -1) == LUA_TTABLE {
            if lua.getField(-1, name) != LUA_TNIL {
                forklift_remove(L, -2)
                return
            }
            lua.pop()
        }
        lua.pop()
        lua_getglobal(L, "require")
        lua.push(name)
        guard forklift_pcall(L, 1, 1, 0) == LUA_OK else {
            let message = lua.toString(-1) ?? "?"
            lua.pop()
            throw DecodeError("cannot load module '\(name)' here: \(message)")
        }
    }
}
