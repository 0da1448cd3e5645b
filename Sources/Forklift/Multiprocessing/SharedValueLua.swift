internal import CLua
internal import Glibc

/// Lua bindings of `Value`, `Array`, `RawValue` and `RawArray`.
///
/// `v.value` reads and writes under the value's lock (skipped when this
/// thread holds it already, so `get_lock():with(...)` costs one lock). Array
/// elements are read and written without the lock: a single aligned element
/// is read or written at once anyway, and `a[i]` must stay as cheap as a bare
/// C `__index`; `totable` and `fill` take the lock for a consistent whole.
enum SharedValueLua {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("Value", { L in SharedValueLua.newValue(L, raw: false) }),
            ("RawValue", { L in SharedValueLua.newValue(L, raw: true) }),
            ("Array", { L in SharedValueLua.newArray(L, raw: false) }),
            ("RawArray", { L in SharedValueLua.newArray(L, raw: true) }),
        ])
        ArrayIteration.remember(lua)
    }

    static func fillMetatable(_ kind: SharedKind, _ lua: Lua) {
        let common: [(String, LuaCFunction)] = [("get_lock", getLock), ("get_obj", getObject)]
        let own: [(String, LuaCFunction)] =
            kind == .value ? [("add", add)] : [("totable", ArrayAccess.toTable), ("fill", ArrayAccess.fill)]
        lua.newTable()
        for (name, fn) in common + own {
            lua.push(function: fn)
            lua.setField(-2, name)
        }
        if kind == .value {
            lua.push("value")
            lua.push(function: valueIndex, upvalues: 2)
            lua.setField(-2, "__index")
            lua.push("value")
            lua.push(function: valueNewIndex, upvalues: 1)
            lua.setField(-2, "__newindex")
        } else {
            lua.push(function: ArrayAccess.index, upvalues: 1)
            lua.setField(-2, "__index")
            lua.push(function: ArrayAccess.newIndex)
            lua.setField(-2, "__newindex")
            lua.push(function: ArrayAccess.length)
            lua.setField(-2, "__len")
            lua.push(function: ArrayAccess.pairs)
            lua.setField(-2, "__pairs")
        }
        lua.push(function: describe)
        lua.setField(-2, "__tostring")
    }

    // MARK: Construction

    /// The typecode at argument 1; nil after pushing an error.
    static func typecode(_ lua: Lua) -> Typecode? {
        guard let s = lua.toString(1), let t = Typecode(letter: s) else {
            ModuleError.push(lua, .valueError, "bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)")
            return nil
        }
        return t
    }

    /// The lock a new Value/Array gets from its options at `index`: `nil`,
    /// `true` or `{lock=true}` make a new RLock; `false` none; a Lock/RLock
    /// (or `{lock=l}`) that one. Pushes the lock object (or nil) on the stack.
    static func resolveLock(_ lua: Lua, _ index: Int32, raw: Bool) -> (ok: Bool, lock: SharedObject?) {
        if raw {
            lua.pushNil()
            return (true, nil)
        }
        lua.pushValue(at: index)
        if lua.type(at: -1) == LUA_TTABLE {
            lua.getField(-1, "lock")
            forklift_remove(lua.L, -2)
        }
        if lua.type(at: -1) == LUA_TBOOLEAN && !lua.toBool(-1) { return (true, nil) }
        if lua.isNoneOrNil(-1) || lua.type(at: -1) == LUA_TBOOLEAN {
            lua.pop()
            guard SynchronizeLua.newLock(lua.L, .rlock) == 1 else { return (false, nil) }
        }
        guard let lock = SharedObjects.get(lua, -1), lock.kind == .lock || lock.kind == .rlock else {
            ModuleError.push(lua, .valueError, "lock must be true, false, a Lock or an RLock")
            return (false, nil)
        }
        return (true, lock)
    }

    /// Pushes the new object with its lock object (on the stack below it) as user value.
    static func finish(_ lua: Lua, _ object: SharedObject, _ allocator: SharedAllocator) {
        SharedObjects.push(lua, object, holdsReference: true, allocator: allocator)
        lua.pushValue(at: -2)
        forklift_setuservalue(lua.L, -2)
    }

    static func newValue(_ L: OpaquePointer?, raw: Bool) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        lua.top = max(lua.top, 3)
        guard let typecode = typecode(lua) else { return lua.raiseTop }
        var bits: UInt64 = 0
        if !lua.isNil(2) {
            switch typecode.bits(L, 2) {
            case .success(let b): bits = b
            case .failure(let e): return ModuleError.raise(lua, .valueError, "Value: \(e.message)")
            }
        }
        guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }
        let (ok, lock) = resolveLock(lua, 3, raw: raw)
        guard ok else { return lua.raiseTop }
        do {
            let o = try SharedValueLayout.allocate(allocator, kind: .value, typecode: typecode, count: 1, lock: lock)
            typecode.store(bits, o.data, 0)
            finish(lua, o, allocator)
            return 1
        } catch {
            return ModuleError.raise(lua, .osError, "cannot create Value: \(error)")
        }
    }

    static func newArray(_ L: OpaquePointer?, raw: Bool) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        lua.top = max(lua.top, 3)
        guard let typecode = typecode(lua) else { return lua.raiseTop }
        let fromTable = lua.type(at: 2) == LUA_TTABLE
        let count: Int
        if fromTable {
            count = lua.rawLength(2)
        } else {
            guard lua.type(at: 2) == LUA_TNUMBER, let n = lua.toInteger(2), n >= 0 else {
                return ModuleError.raise(lua, .valueError, "Array size must be a non-negative integer or a table of values")
            }
            guard n <= Int64(Int.max / 8) / Int64(typecode.size) else {
                return ModuleError.raise(lua, .valueError, "Array size \(n) is too large")
            }
            count = Int(n)
        }
        guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }
        let (ok, lock) = resolveLock(lua, 3, raw: raw)
        guard ok else { return lua.raiseTop }
        let o: SharedObject
        do {
            o = try SharedValueLayout.allocate(allocator, kind: .array, typecode: typecode, count: count, lock: lock)
        } catch {
            return ModuleError.raise(lua, .osError, "cannot create Array of \(count) '\(typecode.letter)': \(error)")
        }
        if fromTable {
            for i in 0..<count {
                lua_rawgeti(L, 2, lua_Integer(i + 1))
                let r = typecode.bits(L, -1)
                lua.pop()
                switch r {
                case .success(let b): typecode.store(b, o.data, i)
                case .failure(let e):
                    allocator.release(o.offset)
                    return ModuleError.raise(lua, .valueError, "Array element \(i + 1): \(e.message)")
                }
            }
        }
        finish(lua, o, allocator)
        return 1
    }

    // MARK: Value

    /// `__index`: `v.value` (upvalue 2 is the string "value"), else a method (upvalue 1).
    static let valueIndex: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        if lua_rawequal(L, 2, forklift_protected_upvalueindex(2)) != 0 {
            let lua = Lua(L)
            guard lua.checkStack(2), o.locked(lua, { o.typecode.push(L, o.data, 0) }) != nil else { return lua.raiseTop }
            return 1
        }
        lua_pushvalue(L, 2)
        let found = lua_rawget(L, forklift_protected_upvalueindex(1))
        if found == LUA_TNIL, Lua(L).toString(2) == "typecode" {
            Lua(L).push(o.typecode.letter)
        } else if found == LUA_TFUNCTION, o.lock == nil {
            hideLockMethods(L)
        }
        return 1
    }

    /// A raw Value or Array has no `get_lock` nor `get_obj` (as in Python,
    /// where `hasattr(raw, "get_lock")` is false): replaces the method just
    /// looked up for key 2 with nil when it is one of those.
    static func hideLockMethods(_ L: OpaquePointer) {
        guard let key = Lua(L).toString(2), key == "get_lock" || key == "get_obj" else { return }
        lua_settop(L, -2)
        lua_pushnil(L)
    }

    /// `__newindex`: only `v.value = x` (upvalue 1 is the string "value").
    static let valueNewIndex: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        guard lua_rawequal(L, 2, forklift_protected_upvalueindex(1)) != 0 else {
            return ModuleError.raise(lua, .valueError, "a Value has only the field 'value'")
        }
        switch o.typecode.bits(L, 3) {
        case .success(let b):
            guard o.locked(lua, { o.typecode.store(b, o.data, 0) }) != nil else { return lua.raiseTop }
            return 0
        case .failure(let e):
            return ModuleError.raise(lua, .valueError, "Value: \(e.message)")
        }
    }

    /// `v:add(k)`: atomic, returns the new value; a sum that does not fit raises and changes nothing.
    static let add: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = SharedObjects.get(lua, 1, .value) else {
            return ModuleError.raise(lua, .valueError, "a Value expected (use ':' to call methods)")
        }
        if let e = o.typecode.atomicAdd(L, 2, at: o.data) {
            return ModuleError.raise(lua, .valueError, "add: \(e.message)")
        }
        return 1
    }

    /// `get_lock()`: the same Lock/RLock object every time; raw objects have none.
    static let getLock: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = SharedObjects.get(lua, 1), o.kind == .value || o.kind == .array else {
            return ModuleError.raise(lua, .valueError, "a Value or Array expected (use ':' to call methods)")
        }
        guard o.lock != nil, let allocator = SharedMemoryModule.allocator(lua) else {
            return ModuleError.raise(lua, .valueError, "a raw \(o.kind == .value ? "Value" : "Array") has no lock")
        }
        if forklift_getuservalue(L, 1) == LUA_TUSERDATA { return 1 }
        lua.pop()
        // A received object: make this process's Lua object for its lock once.
        let lockOffset = SharedValueLayout.lockOffset(o)
        guard let kind = SharedKind(rawValue: allocator.kind(of: lockOffset)), kind == .lock || kind == .rlock else {
            return ModuleError.raise(lua, .valueError, "corrupt shared object")
        }
        SharedObjects.push(lua, SharedObject(payload: allocator.payload(of: lockOffset), offset: lockOffset, kind: kind), holdsReference: false, allocator: allocator)
        lua.pushValue(at: -1)
        forklift_setuservalue(L, 1)
        return 1
    }

    /// `get_obj()`: the same memory without the lock (a RawValue/RawArray view).
    static let getObject: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard var o = SharedObjects.get(lua, 1), o.kind == .value || o.kind == .array,
            let allocator = SharedMemoryModule.allocator(lua)
        else { return ModuleError.raise(lua, .valueError, "a Value or Array expected (use ':' to call methods)") }
        o.lock = nil
        SharedObjects.push(lua, o, holdsReference: false, allocator: allocator)
        return 1
    }

    static let describe: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        let name = o.lock == nil ? (o.kind == .value ? "RawValue" : "RawArray") : (o.kind == .value ? "Value" : "Array")
        if o.kind == .value {
            lua.push("multiprocessing.\(name)('\(o.typecode.letter)', ")
            o.typecode.push(L, o.data, 0)
            lua_concat(L, 2)  // a number converts without metamethods
            lua.push(")")
            lua_concat(L, 2)
        } else {
            lua.push("multiprocessing.\(name)('\(o.typecode.letter)', \(o.count))")
        }
        return 1
    }
}
