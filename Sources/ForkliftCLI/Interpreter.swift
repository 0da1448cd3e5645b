import CLua
import Forklift

/// lua.c's `dochunk`/`dofile`/`dostring`/`dolibrary`/`handle_script`, with
/// Ctrl-C armed to interrupt the running chunk (its `docall`).
enum Interpreter {
    /// Calls the function below `nargs` arguments with the SIGINT hook armed.
    @discardableResult
    static func docall(_ host: LuaState, nargs: Int32, nresults: Int32) throws(LuaError) -> Int32 {
        forklift_set_interrupt_target(host.L)
        defer { forklift_set_interrupt_target(nil) }
        return try host.call(nargs: nargs, nresults: nresults)
    }

    static func doFile(_ host: LuaState, _ path: String?) throws(LuaError) {
        try host.loadFile(path)
        try docall(host, nargs: 0, nresults: 0)
    }

    static func doString(_ host: LuaState, _ code: String, chunkName: String) throws(LuaError) {
        try host.load(code, chunkName: chunkName)
        try docall(host, nargs: 0, nresults: 0)
    }

    /// `-l name`: `name = require "name"`.
    static func doLibrary(_ host: LuaState, _ name: String) throws(LuaError) {
        lua_getglobal(host.L, "require")
        host.lua.push(name)
        try docall(host, nargs: 1, nresults: 1)
        lua_setglobal(host.L, name)
    }

    /// Runs the script (nil: standard input) with the `arg` table's positive entries as arguments.
    static func runScript(_ host: LuaState, _ path: String?) throws(LuaError) {
        let L = host.L
        try host.loadFile(path)
        guard lua_getglobal(L, "arg") == LUA_TTABLE else {
            host.lua.pop(2)
            throw LuaError(kind: .runtime, message: "'arg' is not a table")
        }
        let n = Int32(luaL_len(L, -1))
        guard lua_checkstack(L, n + 3) != 0 else {
            host.lua.pop(2)
            throw LuaError(kind: .runtime, message: "stack overflow (too many arguments to script)")
        }
        for i in 1...max(n, 1) where i <= n { lua_rawgeti(L, -Int32(i), lua_Integer(i)) }
        forklift_remove(L, -(n + 1))
        try docall(host, nargs: n, nresults: forklift_multret)
        host.lua.top = 0
    }
}
