import CLua
import Forklift

/// The few steps of `lua.c` that run metamethods and so may raise a Lua
/// error outside any chunk: reading and writing globals (`_G` may have a
/// metatable), `luaL_tolstring` on the prompt, reading the `arg` table.
///
/// `lua.c` does them in C, where an error longjmps to `main`'s `lua_pcall`.
/// A longjmp must not cross Swift frames, so here they are small Lua
/// functions, captured before any user code runs and called with
/// `lua_pcall`; an error comes back as `Fatal`, which ends `forklift` as the
/// error reaching `lua.c`'s `main` ends `lua`.
struct RaisingSteps {
    /// An error outside any chunk: `lua` prints `progname: message` and exits 1.
    struct Fatal: Error {
        var message: String
    }

    private let L: OpaquePointer
    private let reference: Int32

    private static let source = """
        local G, type, tostring, rawget, mathtype, unpack = ...
        return {
          getglobal = function (name) return G[name] end,
          setglobal = function (name, v) G[name] = v end,
          tolstring = function (v) return tostring(v) end,
          scriptargs = function ()
            local a = G.arg
            if type(a) ~= "table" then error("'arg' is not a table", 0) end
            local n = #a
            if mathtype(n) ~= "integer" then error("object length is not an integer", 0) end
            local t = {}
            for i = 1, n do t[i] = rawget(a, i) end
            return unpack(t, 1, n)
          end,
        }
        """

    /// Builds the steps from the pristine standard library; call it right
    /// after `luaL_openlibs`, before any user code.
    init(_ host: LuaState) throws(Fatal) {
        L = host.L
        do {
            try host.load(Self.source, chunkName: "=forklift")
        } catch {
            throw Fatal(message: error.message)
        }
        // A fresh state has no metatables yet: these lookups cannot raise.
        forklift_pushglobaltable(L)
        for name in ["type", "tostring", "rawget"] { lua_getglobal(L, name) }
        lua_getglobal(L, "math")
        lua_getfield(L, -1, "type")
        forklift_remove(L, -2)
        lua_getglobal(L, "table")
        lua_getfield(L, -1, "unpack")
        forklift_remove(L, -2)
        guard forklift_pcall(L, 6, 1, 0) == LUA_OK else { throw Self.popFatal(L) }
        reference = luaL_ref(L, forklift_registryindex)
    }

    /// `lua_getglobal`: pushes the global's value.
    func getGlobal(_ name: String) throws(Fatal) {
        Lua(L).push(name)
        try call("getglobal", nargs: 1, nresults: 1)
    }

    /// `lua_setglobal`: pops the value on top into the global.
    func setGlobal(_ name: String) throws(Fatal) {
        Lua(L).push(name)
        forklift_insert(L, -2)
        try call("setglobal", nargs: 2, nresults: 0)
    }

    /// `luaL_tolstring`: replaces the value on top with `tostring` of it.
    func toString() throws(Fatal) {
        try call("tolstring", nargs: 1, nresults: 1)
    }

    /// `lua.c`'s `pushargs`: pushes `arg[1..#arg]` and returns how many.
    func pushScriptArguments() throws(Fatal) -> Int32 {
        let base = lua_gettop(L)
        try call("scriptargs", nargs: 0, nresults: forklift_multret)
        return lua_gettop(L) - base
    }

    /// Calls step `name` on the `nargs` arguments on top of the stack.
    private func call(_ name: String, nargs: Int32, nresults: Int32) throws(Fatal) {
        guard lua_checkstack(L, 3) != 0 else { throw Fatal(message: "stack overflow") }
        lua_rawgeti(L, forklift_registryindex, lua_Integer(reference))
        Lua(L).push(name)
        lua_rawget(L, -2)
        forklift_remove(L, -2)
        forklift_insert(L, -(nargs + 1))
        guard forklift_pcall(L, nargs, nresults, 0) == LUA_OK else { throw Self.popFatal(L) }
    }

    /// `lua.c`'s `report` of an error that reached `main`: `lua_tostring` of the value.
    private static func popFatal(_ L: OpaquePointer) -> Fatal {
        defer { forklift_pop(L, 1) }
        var len = 0
        guard lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER,
            let p = forklift_tolstring(L, -1, &len)
        else { return Fatal(message: "(null)") }
        return Fatal(message: String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self))
    }
}
