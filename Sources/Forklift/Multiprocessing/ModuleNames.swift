internal import CLua

/// Finds the name under which a table or C function is reachable from
/// `package.loaded`, so that modules (`mp`, `string`, a user's module) and
/// their C functions (`math.sqrt`) cross as names and arrive as the
/// receiver's own copies.
///
/// The reverse maps live in the registry and are rebuilt when the number of
/// loaded modules changes; every hit is re-validated against
/// `package.loaded`, so a stale map can never send the wrong object.
struct ModuleNames {
    private let lua: Lua
    private var fresh = false

    private static let modulesKey = "forklift.codec.modules"
    private static let functionsKey = "forklift.codec.cfunctions"
    private static let countKey = "forklift.codec.loadedcount"

    init(_ lua: Lua) { self.lua = lua }

    /// Pushes `package.loaded` (from the registry, as `require` uses it).
    private func pushLoaded() -> Bool {
        lua.getField(forklift_registryindex, "_LOADED") == LUA_TTABLE
    }

    private mutating func refresh(force: Bool = false) {
        if fresh && !force { return }
        fresh = true
        let L = lua.L
        let top = lua.top
        defer { lua.top = top }
        guard pushLoaded() else { return }
        let loaded = lua.top
        var count: Int64 = 0
        lua_pushnil(L)
        while lua_next(L, loaded) != 0 {
            count += 1
            lua.pop()
        }
        lua.getField(forklift_registryindex, Self.countKey)
        let known = lua.toInteger(-1)
        lua.pop()
        if !force && known == count { return }
        // Rebuild table -> name; the function map is rebuilt lazily.
        lua.newTable()
        lua_pushnil(L)
        while lua_next(L, loaded) != 0 {
            if lua.type(at: -1) == LUA_TTABLE && lua.type(at: -2) == LUA_TSTRING {
                lua.pushValue(at: -1)
                lua.pushValue(at: -3)
                lua.rawSet(-5)
            }
            lua.pop()
        }
        lua.setField(forklift_registryindex, Self.modulesKey)
        lua.pushNil()
        lua.setField(forklift_registryindex, Self.functionsKey)
        lua.push(count)
        lua.setField(forklift_registryindex, Self.countKey)
    }

    /// The module name when the table at `index` is `package.loaded[name]`.
    mutating func name(ofTableAt index: Int32) -> String? {
        refresh()
        let top = lua.top
        defer { lua.top = top }
        guard lua.getField(forklift_registryindex, Self.modulesKey) == LUA_TTABLE else { return nil }
        lua.pushValue(at: index)
        guard lua.rawGet(-2) == LUA_TSTRING, let name = lua.toString(-1) else { return nil }
        // Validate: it must still be that module.
        guard pushLoaded() else { return nil }
        lua.getField(-1, name)
        return lua_rawequal(lua.L, -1, index) != 0 ? name : nil
    }

    /// `(module, key)` when the C function at `index` is `package.loaded[module][key]`.
    mutating func name(ofCFunctionAt index: Int32) -> (String, String)? {
        refresh()
        if let found = lookupFunction(index) { return found }
        // Maybe a module or field appeared since the map was built.
        refresh(force: true)
        return lookupFunction(index)
    }

    private func lookupFunction(_ index: Int32) -> (String, String)? {
        let L = lua.L
        let top = lua.top
        defer { lua.top = top }
        if lua.getField(forklift_registryindex, Self.functionsKey) != LUA_TTABLE {
            lua.pop()
            buildFunctionMap()
            guard lua.getField(forklift_registryindex, Self.functionsKey) == LUA_TTABLE else { return nil }
        }
        lua.pushValue(at: index)
        guard lua.rawGet(-2) == LUA_TTABLE else { return nil }
        lua.rawGet(-1, 1)
        lua.rawGet(-2, 2)
        guard let module = lua.toString(-2), let key = lua.toString(-1) else { return nil }
        guard pushLoaded() else { return nil }
        lua.getField(-1, module)
        guard lua.type(at: -1) == LUA_TTABLE else { return nil }
        lua.getField(-1, key)
        return lua_rawequal(L, -1, index) != 0 ? (module, key) : nil
    }

    /// function -> {module, key} over every string-keyed C function field of every loaded module.
    private func buildFunctionMap() {
        let L = lua.L
        let top = lua.top
        defer { lua.top = top }
        lua.newTable()
        let map = lua.top
        guard pushLoaded() else { return }
        let loaded = lua.top
        lua_pushnil(L)
        while lua_next(L, loaded) != 0 {
            if lua.type(at: -1) == LUA_TTABLE && lua.type(at: -2) == LUA_TSTRING {
                let module = lua.top
                lua_pushnil(L)
                while lua_next(L, module) != 0 {
                    if lua_iscfunction(L, -1) != 0 && lua.type(at: -2) == LUA_TSTRING {
                        // Prefer a real module over `_G` (keeps `_G` lookups for globals only).
                        lua.pushValue(at: -1)
                        let existing = lua.rawGet(map)
                        lua.pop()
                        let isGlobals = lua.toString(module - 1) == "_G"
                        if existing == LUA_TNIL || !isGlobals {
                            lua.pushValue(at: -1)
                            lua.newTable(arrayCount: 2)
                            lua.pushValue(at: module - 1)
                            lua.rawSet(-2, 1)
                            lua.pushValue(at: -4)
                            lua.rawSet(-2, 2)
                            lua.rawSet(map)
                        }
                    }
                    lua.pop()
                }
            }
            lua.pop()
        }
        lua.pushValue(at: map)
        lua.setField(forklift_registryindex, Self.functionsKey)
    }
}
