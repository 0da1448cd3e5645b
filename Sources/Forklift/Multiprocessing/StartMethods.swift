internal import CLua
internal import Glibc

/// The Swift primitives of the start methods: spawning a fresh `forklift`
/// worker, and what a spawned worker needs to pick up its parent's state.
enum StartMethods {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("_spawn", spawn),
            ("_connection", connection),
            ("_thread_count", { L in
                guard let L else { return 0 }
                Lua(L).push(ProcessControl.threadCount())
                return 1
            }),
        ])
    }

    /// `mp._spawn(spec_fd, {fds...}, daemon)` → pid. The child gets
    /// `spec_fd` as 3, the arena as 4 and `fds` from 5 on.
    static let spawn: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let spec = lua.toInteger(1) else { return ModuleError.raise(lua, .valueError, "spec fd expected") }
        var descriptors: [Int32] = [Int32(spec)]
        guard let arena = SharedArena.current else {
            return ModuleError.raise(lua, .stateError, "the shared arena does not exist")
        }
        descriptors.append(arena.descriptor.rawValue)
        if lua.type(at: 2) == LUA_TTABLE {
            for i in 1...max(1, lua.rawLength(2)) where i <= lua.rawLength(2) {
                lua.rawGet(2, Int64(i))
                if let fd = lua.toInteger(-1) { descriptors.append(Int32(fd)) }
                lua.pop()
            }
        }
        guard let executable = Spawn.forkliftExecutable() else {
            return ModuleError.raise(lua, .osError, Spawn.ExecutableNotFound().description)
        }
        do throws(SystemError) {
            let pid = try Spawn.start(
                executable: executable,
                arguments: [SpawnedProcess.flag, String(getpid())]
                    + (ProcessControl.threadCount() > 1 ? [SpawnedProcess.threadedParentFlag] : []),
                descriptors: descriptors)
            ChildRegistry.shared.add(pid, daemon: lua.toBool(3))
            lua.push(Int64(pid))
            return 1
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    /// `mp._connection(readfd, writefd)`: wraps raw descriptors as a Connection (-1: none).
    static let connection: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        Connection.push(lua, readFD: Int32(lua.toInteger(1) ?? -1), writeFD: Int32(lua.toInteger(2) ?? -1))
        return 1
    }
}
