internal import CLua
internal import Glibc

/// A non-owning view of a `lua_State`: the stack operations every layer uses.
///
/// It is what a Swift function called from Lua receives; `LuaState` owns the
/// state and hands out this view. All indices are Lua stack indices.
public struct Lua {
    /// The raw `lua_State *`.
    public let L: OpaquePointer

    /// A view of `L` (nothing is retained or closed).
    public init(_ L: OpaquePointer) { self.L = L }

    // MARK: Stack

    /// The index of the top slot (the number of values on the stack); setting it pops or pushes nils. The corresponding C functions are `lua_gettop` and `lua_settop`.
    @inline(__always) public var top: Int32 {
        get { lua_gettop(L) }
        nonmutating set { lua_settop(L, newValue) }
    }
    /// Pops `n` values.
    @inline(__always) public func pop(_ n: Int32 = 1) { forklift_pop(L, n) }
    /// The absolute index for `index` (negative indices count from the top).
    @inline(__always) public func absolute(_ index: Int32) -> Int32 { lua_absindex(L, index) }
    /// The type tag (`LUA_TNIL`, `LUA_TNUMBER`, ...) of the value at `index`; `LUA_TNONE` past the top.
    @inline(__always) public func type(at index: Int32) -> Int32 { lua_type(L, index) }
    /// The type name of the value at `index`, as Lua's `type` gives it.
    public func typeName(at index: Int32) -> String { String(cString: luaL_typename_shim(index)) }

    private func luaL_typename_shim(_ index: Int32) -> UnsafePointer<CChar> { lua_typename(L, lua_type(L, index)) }

    /// Makes sure `n` more slots fit on the stack; false when Lua cannot grow it.
    @discardableResult public func checkStack(_ n: Int32) -> Bool { lua_checkstack(L, n) != 0 }

    /// Runs `body` and restores the stack top afterwards, whatever it pushed.
    @inline(__always) public func preservingTop<R>(_ body: () throws -> R) rethrows -> R {
        let saved = lua_gettop(L)
        defer { lua_settop(L, saved) }
        return try body()
    }

    // MARK: Pushing

    /// Pushes `nil`.
    @inline(__always) public func pushNil() { lua_pushnil(L) }
    /// Pushes a boolean.
    @inline(__always) public func push(_ b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
    /// Pushes an integer.
    @inline(__always) public func push(_ i: Int64) { lua_pushinteger(L, i) }
    /// Pushes an integer.
    @inline(__always) public func push(_ i: Int) { lua_pushinteger(L, lua_Integer(i)) }
    /// Pushes a float.
    @inline(__always) public func push(_ d: Double) { lua_pushnumber(L, d) }
    /// Pushes a string (its UTF-8 bytes).
    public func push(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            _ = buf.withMemoryRebound(to: CChar.self) { lua_pushlstring(L, $0.baseAddress, $0.count) }
        }
    }
    /// Pushes a string holding these bytes (copied).
    public func push(bytes: UnsafeRawBufferPointer) {
        _ = lua_pushlstring(L, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
    }
    /// Pushes a string holding these bytes.
    public func push(_ s: LuaString) {
        s.bytes.withUnsafeBytes { push(bytes: $0) }
    }
    /// Pushes a Swift function that may raise Lua errors safely (see `LuaFunction`).
    public func push(function: LuaCFunction, upvalues: Int32 = 0) {
        forklift_pushprotected(L, function, upvalues)
    }
    /// Pushes a copy of the value at `index`.
    @inline(__always) public func pushValue(at index: Int32) { lua_pushvalue(L, index) }
    /// Pushes the globals table.
    public func pushGlobals() { forklift_pushglobaltable(L) }
    /// Pushes a new table with room for `arrayCount` sequence items and `hashCount` other keys.
    public func newTable(arrayCount: Int32 = 0, hashCount: Int32 = 0) { lua_createtable(L, arrayCount, hashCount) }

    // MARK: Reading

    /// True when the value at `index` is `nil` (false past the top).
    @inline(__always) public func isNil(_ index: Int32) -> Bool { lua_type(L, index) == LUA_TNIL }
    /// True when the value at `index` is `nil` or the index is past the top.
    @inline(__always) public func isNoneOrNil(_ index: Int32) -> Bool { lua_type(L, index) <= LUA_TNIL }
    /// Lua's truthiness of the value at `index`: false only for `nil` and `false`.
    @inline(__always) public func toBool(_ index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

    /// The integer at `index`, when it is one or a float/string convertible exactly.
    @inline(__always) public func toInteger(_ index: Int32) -> Int64? {
        var ok: Int32 = 0
        let v = forklift_tointegerx(L, index, &ok)
        return ok != 0 ? v : nil
    }
    /// The number at `index` as a float, when it is a number or a string convertible to one.
    @inline(__always) public func toNumber(_ index: Int32) -> Double? {
        var ok: Int32 = 0
        let v = forklift_tonumberx(L, index, &ok)
        return ok != 0 ? v : nil
    }
    /// The string at `index` (numbers are not converted: that would change the stack value).
    public func toString(_ index: Int32) -> String? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = forklift_tolstring(L, index, &len) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }
    /// The bytes of the string at `index`, valid while the value stays on the stack.
    @inline(__always) public func stringBytes(_ index: Int32) -> UnsafeRawBufferPointer? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = forklift_tolstring(L, index, &len) else { return nil }
        return UnsafeRawBufferPointer(start: p, count: len)
    }

    // MARK: Tables

    /// Pushes `t[i]` without metamethods and returns its type.
    @discardableResult @inline(__always) public func rawGet(_ table: Int32, _ i: Int64) -> Int32 { lua_rawgeti(L, table, i) }
    /// `t[i] = top` without metamethods; pops the value.
    @inline(__always) public func rawSet(_ table: Int32, _ i: Int64) { lua_rawseti(L, table, i) }
    /// Replaces the key on top with `t[key]` without metamethods and returns its type.
    @discardableResult @inline(__always) public func rawGet(_ table: Int32) -> Int32 { lua_rawget(L, table) }
    /// `t[key] = value` for the key and value on top, without metamethods; pops both.
    @inline(__always) public func rawSet(_ table: Int32) { lua_rawset(L, table) }
    /// The raw length (`#` without `__len`) of the string, table or userdata at `index`.
    public func rawLength(_ index: Int32) -> Int { Int(lua_rawlen(L, index)) }

    /// `t[name] = top` without metamethods; pops the value.
    public func setField(_ table: Int32, _ name: String, raw: Bool = true) {
        let t = absolute(table)
        push(name)
        lua_rotate(L, -2, 1)
        if raw { lua_rawset(L, t) } else { lua_settable(L, t) }
    }
    /// Pushes `t[name]` without metamethods and returns its type.
    @discardableResult public func getField(_ table: Int32, _ name: String) -> Int32 {
        let t = absolute(table)
        push(name)
        return lua_rawget(L, t)
    }

    // MARK: Errors

    /// Pushes an error message with the position of the running Lua function
    /// (as `luaL_error` does) and returns the value a protected function
    /// returns to make the trampoline raise it.
    public func raise(_ message: String, level: Int32 = 1) -> Int32 {
        luaL_where(L, level)
        push(message)
        lua_concat(L, 2)
        return forklift_raise
    }

    /// Returns the sentinel that raises the value on top of the stack.
    public var raiseTop: Int32 { forklift_raise }
}

/// A Swift function callable from Lua. It returns the number of results it
/// pushed, or `FORKLIFT_RAISE` after pushing an error value, which the C
/// trampoline then raises: a Lua error never unwinds Swift frames.
public typealias LuaCFunction = @convention(c) (OpaquePointer?) -> Int32
