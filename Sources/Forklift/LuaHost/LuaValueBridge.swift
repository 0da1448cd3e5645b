internal import CLua

/// Moving `LuaValue`s on and off the Lua stack.
extension Lua {
    /// The address of the registry: equal for every coroutine of one state.
    var registryIdentity: UnsafeRawPointer? { lua_topointer(L, forklift_registryindex) }

    /// Pushes a Swift-side value. Tables are built fresh; references push the object they hold.
    public func push(_ value: LuaValue) {
        switch value {
        case .nil: pushNil()
        case .boolean(let b): push(b)
        case .integer(let i): push(i)
        case .number(let d): push(d)
        case .string(let s): push(s)
        case .table(let t):
            checkStack(3)
            newTable(arrayCount: Int32(clamping: t.array.count), hashCount: Int32(clamping: t.hash.count))
            for (i, v) in t.array.enumerated() {
                push(v)
                rawSet(-2, Int64(i + 1))
            }
            for (k, v) in t.hash where k != .nil {
                push(k)
                push(v)
                rawSet(-3)
            }
        case .function(let r), .userdata(let r), .thread(let r):
            if let owner = r.owner, Lua(owner.L).registryIdentity == registryIdentity {
                _ = lua_rawgeti(L, forklift_registryindex, lua_Integer(r.reference))
            } else {
                pushNil()
            }
        case .lightUserdata(let p): lua_pushlightuserdata(L, UnsafeMutableRawPointer(bitPattern: p))
        }
    }

    /// Reads the value at `index`. Tables are copied (a cycle raises a
    /// `LuaError`); functions, userdata and coroutines become references that
    /// keep them alive, owned by `owner` (nil: read as `.nil`).
    public func value(at index: Int32, owner: LuaState? = nil) throws(LuaError) -> LuaValue {
        var visiting = Set<UnsafeRawPointer>()
        return try value(at: absolute(index), owner: owner, visiting: &visiting)
    }

    private func value(at index: Int32, owner: LuaState?, visiting: inout Set<UnsafeRawPointer>) throws(LuaError)
        -> LuaValue
    {
        switch lua_type(L, index) {
        case LUA_TNIL, LUA_TNONE: return .nil
        case LUA_TBOOLEAN: return .boolean(toBool(index))
        case LUA_TNUMBER:
            if forklift_isinteger(L, index) != 0 { return .integer(lua_tointegerx(L, index, nil)) }
            return .number(lua_tonumberx(L, index, nil))
        case LUA_TSTRING:
            return .string(LuaString(bytes: Array(stringBytes(index) ?? UnsafeRawBufferPointer(start: nil, count: 0))))
        case LUA_TTABLE:
            guard let identity = lua_topointer(L, index) else { return .nil }
            guard visiting.insert(identity).inserted else {
                throw LuaError(kind: .runtime, message: "cannot read a table with a cycle into a LuaValue")
            }
            defer { visiting.remove(identity) }
            guard checkStack(3) else { throw LuaError(kind: .memory, message: "Lua stack overflow reading a table") }
            var table = LuaTable()
            let n = rawLength(index)
            table.array.reserveCapacity(n)
            var i = 1
            while i <= n {
                if rawGet(index, Int64(i)) == LUA_TNIL { pop(); break }
                defer { pop() }
                table.array.append(try value(at: top, owner: owner, visiting: &visiting))
                i += 1
            }
            let arrayCount = Int64(table.array.count)
            pushNil()
            while lua_next(L, index) != 0 {
                defer { pop() }
                if forklift_isinteger(L, -2) != 0 {
                    let k = lua_tointegerx(L, -2, nil)
                    if k >= 1 && k <= arrayCount { continue }
                }
                let k = try value(at: top - 1, owner: owner, visiting: &visiting)
                table.hash[k] = try value(at: top, owner: owner, visiting: &visiting)
            }
            return .table(table)
        case LUA_TLIGHTUSERDATA:
            return .lightUserdata(UInt(bitPattern: lua_touserdata(L, index)))
        default:
            guard let owner else { return .nil }
            pushValue(at: index)
            let ref = owner.makeReference()
            let reference = LuaReference(reference: ref, owner: owner)
            switch lua_type(L, index) {
            case LUA_TFUNCTION: return .function(reference)
            case LUA_TTHREAD: return .thread(reference)
            default: return .userdata(reference)
            }
        }
    }
}
