internal import CLua
internal import Glibc

/// `require "multiprocessing"`: builds the module table from the Swift
/// primitives of each part of the runtime, then runs the parts written in Lua.
///
/// A part contributes functions with `register` (Swift, in `parts`) and/or
/// Lua source in `luaParts`, which runs as `local mp = ...` with the module
/// table as its argument and may add to it. Swift functions meant only for the
/// Lua parts are registered under names starting with `_`.
enum MultiprocessingModule {
    nonisolated(unsafe) static var options = ForkliftOptions()

    /// Registry key of the module table, once built (workers reuse it).
    static let registryKey = "multiprocessing.module"

    /// Swift parts: each adds its functions to the module table on top of the stack.
    static let parts: [@Sendable (Lua) -> Void] = [
        registerBasics,
        SharedMemoryModule.register,
        { lua in register(lua, [("_encode", Codec.luaEncode), ("_decode", Codec.luaDecode)]) },
        { lua in register(lua, [("_error", ModuleError.luaMake)]) },
        ProcessPrimitives.register,
        { lua in register(lua, [("Pipe", Connection.pipe)]) },
        PoolChannel.register,
        TaskLoop.register,
        StartMethods.register,
        ForkServer.register,
        registerOptions,
        QueueLua.register,
    ]

    /// Lua parts, run in order with the module table as argument: (chunk name, source).
    static let luaParts: [(String, String)] = [
        ("process", ProcessLua.source),
        ("context", ContextLua.source),
        ("pool_worker", PoolWorkerLua.source),
        ("pool", PoolLua.source),
        ("pool_calls", PoolCallsLua.source),
    ]

    /// The module's loader (`package.preload.multiprocessing`).
    static let open: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        if lua.getField(forklift_registryindex, registryKey) == LUA_TTABLE { return 1 }
        lua.pop()
        // Writing to a pipe whose reader is gone must raise an error in the
        // writer, not kill it silently (Python ignores SIGPIPE the same way).
        _ = signal(SIGPIPE, SIG_IGN)
        lua.newTable()
        let module = lua.top
        for part in parts {
            part(lua)
            lua.top = module
        }
        for (name, source) in luaParts {
            var source = source
            let status = source.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { forklift_loadbuffer(L, $0.baseAddress, $0.count, "=[multiprocessing.\(name)]", "t") }
            }
            guard status == LUA_OK else { return lua.raiseTop }
            lua.pushValue(at: module)
            lua_callk(L, 1, 0, 0, nil)
        }
        lua.pushValue(at: module)
        lua.setField(forklift_registryindex, registryKey)
        return 1
    }

    /// Registers Swift functions in the module table on top of the stack.
    static func register(_ lua: Lua, _ functions: [(String, LuaCFunction)]) {
        for (name, fn) in functions {
            lua.push(function: fn)
            lua.setField(-2, name)
        }
    }

    /// What the host's command line chose: `-w/--workers N`, `--progress`.
    static func registerOptions(_ lua: Lua) {
        register(lua, [
            ("_default_workers", { L in
                guard let L else { return 0 }
                Lua(L).push(MultiprocessingModule.options.workers ?? Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
                return 1
            }),
            ("_default_progress", { L in
                guard let L else { return 0 }
                Lua(L).push(MultiprocessingModule.options.progress)
                return 1
            }),
            ("_stderr_is_tty", { L in
                guard let L else { return 0 }
                Lua(L).push(isatty(STDERR_FILENO) != 0)
                return 1
            }),
        ])
    }

    static func registerBasics(_ lua: Lua) {
        register(lua, [
            ("sleep", Clock.luaSleep),
            ("time", Clock.luaTime),
            ("cpu_count", { L in
                guard let L else { return 0 }
                Lua(L).push(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
                return 1
            }),
        ])
    }
}
