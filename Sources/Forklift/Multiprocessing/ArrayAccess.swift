internal import CLua
internal import Glibc

/// `Array` element access: `a[i]` (1-based), `a[i] = x`, `#a`, `totable`, `fill`.
enum ArrayAccess {
    /// `__index`: an integer key is an element (the lean path: no lock, one
    /// switch on the typecode); anything else is a method (upvalue 1).
    static let index: LuaCFunction = { L in
        guard let L, let memory = lua_touserdata(L, 1) else { return 0 }
        let o = memory.assumingMemoryBound(to: SharedObject.self)
        var isInteger: Int32 = 0
        // One call both tests and converts (as luaL_checkinteger does); a
        // method name fails the conversion at its first letter.
        let i = Int(forklift_tointegerx(L, 2, &isInteger))
        if isInteger != 0 {
            let count = o.pointee.count
            if i >= 1 && i <= count {
                o.pointee.typecode.push(L, o.pointee.data, i &- 1)
                return 1
            }
            return outOfRange(L, o.pointee, i)
        }
        lua_pushvalue(L, 2)
        if lua_rawget(L, forklift_protected_upvalueindex(1)) == LUA_TFUNCTION, o.pointee.lock == nil {
            SharedValueLua.hideLockMethods(L)
        }
        return 1
    }

    /// Reading one past the end from `ipairs` ends the loop (it gives nil,
    /// as a table would); every other out-of-range index raises `ValueError`.
    private static func outOfRange(_ L: OpaquePointer, _ o: SharedObject, _ i: Int) -> Int32 {
        if i == o.count + 1 && ArrayIteration.calledFromIpairs(L) {
            lua_pushnil(L)
            return 1
        }
        return ModuleError.raise(Lua(L), .valueError, "Array index \(i) out of range (1 to \(o.count))")
    }

    /// `__newindex`: `a[i] = x`, with the value checked against the typecode.
    static let newIndex: LuaCFunction = { L in
        guard let L, let memory = lua_touserdata(L, 1) else { return 0 }
        let o = memory.load(as: SharedObject.self)
        let lua = Lua(L)
        guard lua_type(L, 2) == LUA_TNUMBER, let i = lua.toInteger(2) else {
            return ModuleError.raise(lua, .valueError, "Array index must be an integer")
        }
        guard i >= 1 && i <= Int64(o.count) else {
            return ModuleError.raise(lua, .valueError, "Array index \(i) out of range (1 to \(o.count))")
        }
        switch o.typecode.bits(L, 3) {
        case .success(let b):
            o.typecode.store(b, o.data, Int(i) &- 1)
            return 0
        case .failure(let e):
            return ModuleError.raise(lua, .valueError, "Array element \(i): \(e.message)")
        }
    }

    static let length: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        lua_pushinteger(L, lua_Integer(o.count))
        return 1
    }

    /// `__pairs`: `pairs(a)` walks 1..#a as `ipairs` does.
    static let pairs: LuaCFunction = { L in
        guard let L else { return 0 }
        lua_settop(L, 1)
        Lua(L).push(function: next)
        forklift_insert(L, 1)
        lua_pushinteger(L, 0)
        return 3
    }

    /// The iterator of `pairs(a)`: (a, i) → i + 1, a[i + 1] while in range.
    static let next: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = SharedObjects.get(lua, 1, .array), let i = lua.toInteger(2) else {
            return ModuleError.raise(lua, .valueError, "an Array expected")
        }
        guard i >= 0 && i < Int64(o.count) else { return 0 }
        lua_pushinteger(L, lua_Integer(i + 1))
        o.typecode.push(L, o.data, Int(i))
        return 2
    }

    static func array(_ lua: Lua) -> SharedObject? {
        guard let o = SharedObjects.get(lua, 1, .array) else {
            ModuleError.push(lua, .valueError, "an Array expected (use ':' to call methods)")
            return nil
        }
        return o
    }

    /// The 1-based range `i..j` from arguments 2 and 3 (defaults: the whole array).
    static func range(_ lua: Lua, _ o: SharedObject) -> Range<Int>? {
        var bounds = [1, o.count]
        for (k, index) in [Int32(2), 3].enumerated() where !lua.isNoneOrNil(index) {
            guard lua.type(at: index) == LUA_TNUMBER, let v = lua.toInteger(index) else {
                ModuleError.push(lua, .valueError, "totable bounds must be integers")
                return nil
            }
            bounds[k] = Int(clamping: v)
        }
        let (i, j) = (bounds[0], bounds[1])
        if j < i { return 1..<1 }
        guard i >= 1, j <= o.count else {
            ModuleError.push(lua, .valueError, "Array range \(i)..\(j) out of range (1 to \(o.count))")
            return nil
        }
        return i..<(j + 1)
    }

    /// `a:totable([i[, j]])`: elements i..j into a new Lua table (the fast
    /// way to read many elements: one call instead of one per element).
    static let toTable: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = array(lua), let r = range(lua, o) else { return lua.raiseTop }
        let n = r.count
        lua_createtable(L, Int32(clamping: n), 0)
        guard lua.checkStack(2) else { return lua.raise("stack overflow") }
        let copied: Void? = o.locked(lua) {
            let base = r.lowerBound - 1
            switch o.typecode {
            case .d:
                let p = o.data.assumingMemoryBound(to: Double.self) + base
                for k in 0..<n {
                    lua_pushnumber(L, p[k])
                    lua_rawseti(L, -2, lua_Integer(k + 1))
                }
            case .i:
                let p = o.data.assumingMemoryBound(to: Int32.self) + base
                for k in 0..<n {
                    lua_pushinteger(L, lua_Integer(p[k]))
                    lua_rawseti(L, -2, lua_Integer(k + 1))
                }
            default:
                for k in 0..<n {
                    o.typecode.push(L, o.data, base + k)
                    lua_rawseti(L, -2, lua_Integer(k + 1))
                }
            }
        }
        return copied == nil ? lua.raiseTop : 1
    }

    /// `a:fill(v)`: every element set to v.
    static let fill: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = array(lua) else { return lua.raiseTop }
        switch o.typecode.bits(L, 2) {
        case .success(let b):
            let done: Void? = o.locked(lua) {
                if b == 0 {
                    memset(o.data, 0, o.count * o.typecode.size)
                } else {
                    for k in 0..<o.count { o.typecode.store(b, o.data, k) }
                }
            }
            return done == nil ? lua.raiseTop : 0
        case .failure(let e):
            return ModuleError.raise(lua, .valueError, "fill: \(e.message)")
        }
    }
}

/// Recognising `ipairs`'s iterator, so that `ipairs(a)` stops at `#a` while
/// any other read past the end raises.
enum ArrayIteration {
    nonisolated(unsafe) private static var ipairsIterator: lua_CFunction?

    /// Records the C function `ipairs` iterates with (once per process).
    static func remember(_ lua: Lua) {
        guard ipairsIterator == nil else { return }
        lua.preservingTop {
            lua.pushGlobals()
            guard lua.getField(-1, "ipairs") == LUA_TFUNCTION else { return }
            lua.newTable()
            guard forklift_pcall(lua.L, 1, 1, 0) == LUA_OK else { return }
            ipairsIterator = lua_tocfunction(lua.L, -1)
        }
    }

    /// Whether the function reading the element (one level up) is `ipairs`'s iterator.
    static func calledFromIpairs(_ L: OpaquePointer) -> Bool {
        guard let expected = ipairsIterator else { return false }
        var ar = lua_Debug()
        guard lua_getstack(L, 1, &ar) != 0, lua_getinfo(L, "f", &ar) != 0 else { return false }
        let f = lua_tocfunction(L, -1)
        lua_settop(L, -2)
        guard let f else { return false }
        return unsafeBitCast(f, to: UnsafeRawPointer.self) == unsafeBitCast(expected, to: UnsafeRawPointer.self)
    }
}
