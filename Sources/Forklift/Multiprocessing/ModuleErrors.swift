internal import CLua

/// The module's error values: tables `{kind=, message=, ...}` whose
/// `__tostring` gives `kind: message` (API.md, Errors).
enum ModuleError {
    static let metatableName = "multiprocessing.Error"

    /// Error kinds of the contract.
    enum Kind: String {
        case empty = "Empty", full = "Full", timeout = "Timeout"
        case remoteError = "RemoteError", workerLost = "WorkerLost"
        case notSendable = "NotSendable", eof = "EOF"
        case valueError = "ValueError", stateError = "StateError"
        /// An operating-system call failed (the message names it and errno's text).
        case osError = "OSError"
    }

    /// Pushes the shared metatable of error values (creating it once per state).
    static func pushMetatable(_ lua: Lua) {
        if luaL_newmetatable(lua.L, metatableName) != 0 {
            lua.push(function: errorToString)
            lua.setField(-2, "__tostring")
            lua.push("multiprocessing.Error")
            lua.setField(-2, "__name")
        }
    }

    /// Pushes a new error value of `kind` with `message`; `fields` adds more keys.
    static func push(_ lua: Lua, _ kind: Kind, _ message: String, fields: [(String, LuaValue)] = []) {
        lua.checkStack(4)
        lua.newTable(hashCount: Int32(2 + fields.count))
        lua.push(kind.rawValue)
        lua.setField(-2, "kind")
        lua.push(message)
        lua.setField(-2, "message")
        for (k, v) in fields {
            lua.push(v)
            lua.setField(-2, k)
        }
        pushMetatable(lua)
        lua_setmetatable(lua.L, -2)
    }

    /// Pushes the error and returns the sentinel that makes the trampoline
    /// raise it: `return ModuleError.raise(lua, .valueError, "...")`.
    static func raise(_ lua: Lua, _ kind: Kind, _ message: String, fields: [(String, LuaValue)] = []) -> Int32 {
        push(lua, kind, message, fields: fields)
        return lua.raiseTop
    }

    /// Lua: `mp._error(kind, message [, fields])` → a new error value (not raised).
    static let luaMake: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        let kind = lua.toString(1) ?? "Error"
        let message = lua.toString(2) ?? ""
        lua.checkStack(6)
        lua.newTable()
        lua.push(kind)
        lua.setField(-2, "kind")
        lua.push(message)
        lua.setField(-2, "message")
        if lua.type(at: 3) == LUA_TTABLE {
            lua.pushNil()
            while lua_next(L, 3) != 0 {
                lua.pushValue(at: -2)
                lua_rotate(L, -2, 1)
                lua.rawSet(-4)
            }
        }
        pushMetatable(lua)
        lua_setmetatable(L, -2)
        return 1
    }

    /// `__tostring`: `kind: message`.
    static let errorToString: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        lua.getField(1, "kind")
        let kind = lua.toString(-1) ?? "Error"
        lua.getField(1, "message")
        let message = lua.toString(-1) ?? ""
        lua.push("\(kind): \(message)")
        return 1
    }
}
