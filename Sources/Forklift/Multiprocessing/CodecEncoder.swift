internal import CLua

/// A value that cannot cross between processes, and where it sits.
struct NotSendableError: Error, CustomStringConvertible {
    /// What the value is, e.g. `userdata (FILE*)`.
    var what: String
    /// Path components from the value up to the root, innermost first.
    var reversedPath: [String] = []
    var root: String = "value"

    /// `cannot send userdata (FILE*) at args[2].log`
    var description: String { "cannot send \(what) at \(root)\(reversedPath.reversed().joined())" }
}

/// Encodes Lua values (read from the stack) into the wire format of `CodecFormat`.
///
/// One encoder serves one message: reference ids (cycles, shared tables,
/// shared upvalues) are scoped to it. Nothing is written anywhere else until
/// the whole message encoded, so an unsendable value is refused before any
/// byte is sent.
struct Encoder: ~Copyable {
    var out: ByteWriter
    private let lua: Lua
    private var references: [UnsafeRawPointer: UInt32] = [:]
    private var nextReference: UInt32 = 0
    /// upvalue id → (function reference id, upvalue index), to keep shared upvalues shared.
    private var upvalues: [UnsafeRawPointer: (UInt32, UInt32)] = [:]
    private var depth = 0
    private var moduleNames: ModuleNames

    /// `reserving` leaves that many zero bytes in front of the message, for a
    /// frame header the transport fills in (saves a copy on send).
    init(_ lua: Lua, capacity: Int = 256, reserving: Int = 0) {
        self.lua = lua
        self.out = ByteWriter(capacity: capacity + reserving)
        self.moduleNames = ModuleNames(lua)
        for _ in 0..<reserving { out.append(UInt8(0)) }
        out.append(CodecFormat.version)
    }

    /// Appends the value at `index`. `root` names it in errors (`args`, `value`).
    mutating func encode(at index: Int32, root: @autoclosure () -> String = "value") throws(NotSendableError) {
        do {
            try encodeValue(lua.absolute(index))
        } catch var e {
            e.root = root()
            throw e
        }
    }

    private mutating func encodeValue(_ index: Int32) throws(NotSendableError) {
        let L = lua.L
        switch lua_type(L, index) {
        case LUA_TNIL:
            out.append(CodecFormat.tagNil)
        case LUA_TBOOLEAN:
            out.append(lua_toboolean(L, index) != 0 ? CodecFormat.tagTrue : CodecFormat.tagFalse)
        case LUA_TNUMBER:
            if forklift_isinteger(L, index) != 0 {
                out.append(tag: CodecFormat.tagInteger, varint: CodecFormat.zigzag(lua_tointegerx(L, index, nil)))
            } else {
                out.append(CodecFormat.tagFloat)
                out.append(lua_tonumberx(L, index, nil).bitPattern)
            }
        case LUA_TSTRING:
            var len = 0
            let p = forklift_tolstring(L, index, &len)
            out.append(CodecFormat.tagString)
            out.appendVarint(UInt64(len))
            out.append(bytes: UnsafeRawBufferPointer(start: p, count: len))
        case LUA_TTABLE:
            try encodeTable(index)
        case LUA_TFUNCTION:
            try encodeFunction(index)
        case LUA_TUSERDATA:
            try encodeUserdata(index)
        case LUA_TLIGHTUSERDATA:
            throw NotSendableError(what: "light userdata")
        case LUA_TTHREAD:
            throw NotSendableError(what: "coroutine")
        default:
            throw NotSendableError(what: lua.typeName(at: index))
        }
    }

    /// Writes a back reference when the object was already encoded in this
    /// message; otherwise records it and returns false.
    private mutating func referenceSeen(_ index: Int32) -> Bool {
        guard let p = lua_topointer(lua.L, index) else { return false }
        if let id = references[p] {
            out.append(CodecFormat.tagReference)
            out.appendVarint(UInt64(id))
            return true
        }
        references[p] = nextReference
        nextReference += 1
        return false
    }

    private mutating func enter() throws(NotSendableError) {
        depth += 1
        if depth > CodecFormat.maxDepth {
            throw NotSendableError(what: "a value nested deeper than \(CodecFormat.maxDepth) levels")
        }
        if !lua.checkStack(8) { throw NotSendableError(what: "a value too deep for the Lua stack") }
    }

    private mutating func encodeTable(_ index: Int32) throws(NotSendableError) {
        if let name = moduleNames.name(ofTableAt: index) {
            out.append(CodecFormat.tagModule)
            writeName(name)
            return
        }
        if referenceSeen(index) { return }
        try enter()
        defer { depth -= 1 }
        let L = lua.L
        let base = lua.top
        // A metatable registered by name (`luaL_newmetatable`, e.g. the module's
        // errors) crosses as its name; any other crosses as a value, after the
        // table's contents so both sides hand out reference ids in one order.
        var metatable: Int32 = 0
        if lua_getmetatable(L, index) != 0 {
            if let name = registeredName(ofMetatableAt: lua.top) {
                lua.pop()
                out.append(CodecFormat.tagNamedMetatable)
                writeName(name)
            } else {
                metatable = lua.top
                out.append(CodecFormat.tagMetatable)
            }
        }
        do throws(NotSendableError) {
            try encodeTableContents(index)
            if metatable != 0 {
                do { try encodeValue(metatable) } catch var e {
                    e.reversedPath.append("<metatable>")
                    throw e
                }
            }
        } catch {
            lua.top = base
            throw error
        }
        lua.top = base
    }

    /// The name under which the metatable at `index` is in the registry, if it is.
    private func registeredName(ofMetatableAt index: Int32) -> String? {
        let L = lua.L
        let top = lua.top
        defer { lua.top = top }
        lua.push("__name")
        guard lua_rawget(L, index) == LUA_TSTRING, let name = lua.toString(-1) else { return nil }
        lua_getfield(L, forklift_registryindex, name)
        return lua_rawequal(L, -1, index) != 0 ? name : nil
    }

    private mutating func encodeTableContents(_ index: Int32) throws(NotSendableError) {
        let L = lua.L
        out.append(CodecFormat.tagTable)
        // One pass with lua_next: Lua visits the array part first, in order, so
        // keys 1, 2, 3... go to the sequence section until the first key that
        // is not the next index; everything from there on is a key/value pair.
        let sequenceCountAt = out.count
        out.append(UInt32(0))
        var sequenceCount: UInt32 = 0
        var pairCountAt = -1
        var pairCount: UInt32 = 0
        lua_pushnil(L)
        let value = lua.top + 1  // where lua_next leaves each value (its key just below)
        while lua_next(L, index) != 0 {
            if pairCountAt < 0 {
                if forklift_isinteger(L, -2) != 0 && lua_tointegerx(L, -2, nil) == Int64(sequenceCount) + 1 {
                    // Arrays of integers are the bulk case: skip the general dispatch.
                    if forklift_isinteger(L, value) != 0 {
                        out.append(tag: CodecFormat.tagInteger, varint: CodecFormat.zigzag(lua_tointegerx(L, value, nil)))
                        sequenceCount += 1
                        lua_settop(L, value - 1)
                        continue
                    }
                    do { try encodeValue(value) } catch var e {
                        e.reversedPath.append("[\(sequenceCount + 1)]")
                        lua.pop(2)
                        throw e
                    }
                    sequenceCount += 1
                    lua.pop()
                    continue
                }
                pairCountAt = out.count
                out.append(UInt32(0))
            }
            do {
                try encodeValue(lua.top - 1)
                try encodeValue(lua.top)
            } catch var e {
                e.reversedPath.append(Encoder.pathComponent(lua, key: lua.top - 1))
                lua.pop(2)
                throw e
            }
            pairCount += 1
            lua.pop()
        }
        out.patch(sequenceCount, at: sequenceCountAt)
        if pairCountAt < 0 { out.append(UInt32(0)) } else { out.patch(pairCount, at: pairCountAt) }
    }

    /// `.name` for identifier keys, `[1]`, `["a b"]`, `[true]` otherwise.
    static func pathComponent(_ lua: Lua, key: Int32) -> String {
        switch lua.type(at: key) {
        case LUA_TSTRING:
            let s = lua.toString(key) ?? ""
            let isIdentifier = !s.isEmpty && s.utf8.allSatisfy { $0 == 95 || ($0 | 32 >= 97 && $0 | 32 <= 122) || ($0 >= 48 && $0 <= 57) } && !(s.utf8.first.map { $0 >= 48 && $0 <= 57 } ?? true)
            return isIdentifier ? ".\(s)" : "[\"\(s)\"]"
        case LUA_TNUMBER:
            if let i = lua.toInteger(key), forklift_isinteger(lua.L, key) != 0 { return "[\(i)]" }
            return "[\(lua.toNumber(key).map { LuaValue.formatNumber($0) } ?? "?")]"
        case LUA_TBOOLEAN:
            return lua.toBool(key) ? "[true]" : "[false]"
        default:
            return "[\(lua.typeName(at: key))]"
        }
    }

    private mutating func writeName(_ name: String) {
        var name = name
        name.withUTF8 { buf in
            out.appendVarint(UInt64(buf.count))
            out.append(bytes: UnsafeRawBufferPointer(buf))
        }
    }

    private mutating func encodeFunction(_ index: Int32) throws(NotSendableError) {
        let L = lua.L
        if lua_iscfunction(L, index) != 0 {
            guard let (module, key) = moduleNames.name(ofCFunctionAt: index) else {
                throw NotSendableError(what: "C function (not a field of any loaded module)")
            }
            out.append(CodecFormat.tagCFunction)
            writeName(module)
            writeName(key)
            return
        }
        if referenceSeen(index) { return }
        let functionID = nextReference - 1
        try enter()
        defer { depth -= 1 }
        out.append(CodecFormat.tagFunction)
        // The bytecode, with debug information so tracebacks keep line numbers.
        var code = ByteWriter(capacity: 512)
        lua.pushValue(at: index)
        withUnsafeMutablePointer(to: &code) { ptr in
            _ = lua_dump(L, dumpWriter, UnsafeMutableRawPointer(ptr), 0)
        }
        lua.pop()
        out.appendVarint(UInt64(code.count))
        out.append(bytes: code.bytes)
        out.append(CodecFormat.checksum(code.bytes))
        var n: Int32 = 0
        while lua_getupvalue(L, index, n + 1) != nil {
            lua.pop()
            n += 1
        }
        out.appendVarint(UInt64(n))
        for i in 1...max(n, 1) where i <= n {
            if let id = lua_upvalueid(L, index, i) {
                if let (f, u) = upvalues[UnsafeRawPointer(id)] {
                    out.append(CodecFormat.tagJoinedUpvalue)
                    out.appendVarint(UInt64(f))
                    out.appendVarint(UInt64(u))
                    continue
                }
                upvalues[UnsafeRawPointer(id)] = (functionID, UInt32(i))
            }
            let name = lua_getupvalue(L, index, i).map { String(cString: $0) } ?? "?"
            do { try encodeValue(lua.top) } catch var e {
                e.reversedPath.append("<upvalue \(name.isEmpty ? "#\(i)" : name)>")
                lua.pop()
                throw e
            }
            lua.pop()
        }
    }

    private mutating func encodeUserdata(_ index: Int32) throws(NotSendableError) {
        let L = lua.L
        var typeName = "userdata"
        if lua_getmetatable(L, index) != 0 {
            lua.getField(-1, "__name")
            let name = lua.toString(-1)
            lua.pop(2)
            if let name {
                if let type = SendableObjects.type(named: name) {
                    out.append(CodecFormat.tagObject)
                    out.append(type.tag)
                    if let problem = type.encode(lua, index, &out) {
                        throw NotSendableError(what: "\(name) (\(problem))")
                    }
                    return
                }
                typeName = "userdata (\(name))"
            }
        }
        throw NotSendableError(what: typeName)
    }
}

/// `lua_dump`'s writer: appends each piece to the `ByteWriter` passed as `ud`.
private let dumpWriter: lua_Writer = { _, p, size, ud in
    guard let ud, let p else { return 0 }
    ud.assumingMemoryBound(to: ByteWriter.self).pointee.append(bytes: UnsafeRawBufferPointer(start: p, count: size))
    return 0
}
