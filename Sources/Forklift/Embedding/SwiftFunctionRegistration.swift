/// Registering Swift closures with typed arguments and results.
///
/// Each is a global Lua function. Workers forked after the registration
/// inherit it, so Lua functions mapped over a pool can call it; the closure
/// then runs in the worker process, on that process's copy of whatever it captured.
/// A thrown Swift error becomes a Lua error (see `LuaState.register`); an
/// argument that does not convert raises `bad argument #n to 'name' (...)`.
extension ForkliftHost {
    /// Registers a closure that sees its Lua arguments as `LuaValue`s.
    public func register(_ name: String, _ body: @escaping (LuaArguments) throws -> [LuaValue]) {
        swiftFunctionNames.insert(name)
        state.register(name, body)
    }

    /// Registers a closure without arguments: `name()` in Lua.
    public func register<R: LuaRepresentable>(_ name: String, _ body: @escaping () throws -> R) {
        swiftFunctionNames.insert(name)
        state.register(name) { _ in [try body().luaValue] }
    }

    /// Registers a closure of one argument: `name(a)` in Lua.
    public func register<A: LuaConvertible, R: LuaRepresentable>(_ name: String, _ body: @escaping (A) throws -> R) {
        swiftFunctionNames.insert(name)
        state.register(name) { args in
            [try body(try argument(args, 0, of: name)).luaValue]
        }
    }

    /// Registers a closure of two arguments: `name(a, b)` in Lua.
    public func register<A: LuaConvertible, B: LuaConvertible, R: LuaRepresentable>(
        _ name: String, _ body: @escaping (A, B) throws -> R
    ) {
        swiftFunctionNames.insert(name)
        state.register(name) { args in
            [try body(try argument(args, 0, of: name), try argument(args, 1, of: name)).luaValue]
        }
    }

    /// Registers a closure of three arguments: `name(a, b, c)` in Lua.
    public func register<A: LuaConvertible, B: LuaConvertible, C: LuaConvertible, R: LuaRepresentable>(
        _ name: String, _ body: @escaping (A, B, C) throws -> R
    ) {
        swiftFunctionNames.insert(name)
        state.register(name) { args in
            [
                try body(try argument(args, 0, of: name), try argument(args, 1, of: name), try argument(args, 2, of: name))
                    .luaValue
            ]
        }
    }
}

/// Converts argument `i` (0-based) or raises Lua's own wording for a bad argument.
private func argument<T: LuaConvertible>(_ args: LuaArguments, _ i: Int, of name: String) throws(LuaRaise) -> T {
    do {
        return try T(luaValue: args[i])
    } catch {
        throw LuaRaise("bad argument #\(i + 1) to '\(name)' (\(error))")
    }
}
