internal import CLua

/// Lua bindings of `Event` (registered with the other synchronisation objects).
extension SynchronizeLua {
    static func event(_ lua: Lua) -> SharedEvent? {
        guard let o = SharedObjects.get(lua, 1, .event) else {
            ModuleError.push(lua, .valueError, "an Event expected (use ':' to call methods)")
            return nil
        }
        return SharedEvent(state: o.payload)
    }

    static let eventSet: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let e = event(lua) else { return lua.raiseTop }
        e.set()
        return 0
    }

    static let eventClear: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let e = event(lua) else { return lua.raiseTop }
        e.clear()
        return 0
    }

    static let eventIsSet: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let e = event(lua) else { return lua.raiseTop }
        lua.push(e.isSet)
        return 1
    }

    static let eventWait: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        var t: Double?
        guard let e = event(lua), timeout(lua, 2, &t) else { return lua.raiseTop }
        lua.push(e.wait(deadline: deadline(t)) { interrupted(L) })
        return 1
    }
}
