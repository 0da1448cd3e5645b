internal import CLua
internal import Glibc

/// The Swift primitives under `mp.Process` (process.lua builds the API on them).
enum ProcessPrimitives {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("_fork", fork),
            ("_wait", wait),
            ("_signal", signal),
            ("_exit", exit),
            ("_getpid", { L in
                guard let L else { return 0 }
                Lua(L).push(Int64(getpid()))
                return 1
            }),
            ("_getppid", { L in
                guard let L else { return 0 }
                Lua(L).push(Int64(getppid()))
                return 1
            }),
        ])
        lua.push(Int64(SIGTERM))
        lua.setField(-2, "_SIGTERM")
        lua.push(Int64(SIGKILL))
        lua.setField(-2, "_SIGKILL")
        installExitHook()
    }

    nonisolated(unsafe) private static var exitHookInstalled = false

    /// `os.exit` (C `exit`) in the host or in a child must not leave non-daemon
    /// children to be killed by their parent-death signal: like the end of the
    /// script (and Python's atexit hook), it terminates daemons and joins the rest.
    /// Children leave by `_exit`, which runs no atexit handler: `_exit` above does it.
    private static func installExitHook() {
        if exitHookInstalled { return }
        exitHookInstalled = true
        atexit { ChildRegistry.shared.finishAtExit() }
    }

    /// `_fork(daemon)` → pid in the parent, 0 in the child; nil and the reason
    /// when this process has other threads (forking it would be unsafe).
    static let fork: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        let daemon = lua.toBool(1)
        let pid: pid_t
        do {
            pid = try ProcessControl.fork()
        } catch let refused as ProcessControl.ForkRefused {
            // Not an error yet: without an explicit "fork" the caller falls back to the fork server.
            lua.pushNil()
            lua.push(refused.description)
            return 2
        } catch {
            return ModuleError.raise(lua, .osError, "\(error)")
        }
        if pid == 0 {
            // The child: the parent's children are not ours, and Ctrl-C
            // (sent to the whole foreground group) simply ends us.
            ChildRegistry.shared.forgetAll()
            // SIGTERM and the crash signals are back to their defaults (ProcessControl.fork).
            forklift_set_interrupt_target(nil)
        } else {
            ChildRegistry.shared.add(pid, daemon: daemon)
        }
        lua.push(Int64(pid))
        return 1
    }

    /// `_wait(pid [, timeout])` → exitcode, or nil while it runs. A nil
    /// timeout waits for the end; 0 only looks.
    static let wait: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let pid = lua.toInteger(1) else { return ModuleError.raise(lua, .valueError, "pid expected") }
        let status: ExitStatus?
        do throws(SystemError) {
            if lua.isNoneOrNil(2) {
                status = try ProcessControl.wait(pid_t(pid), block: true)
            } else if let t = lua.toNumber(2), t > 0 {
                status = try ProcessControl.wait(pid_t(pid), timeout: t)
            } else {
                status = try ProcessControl.wait(pid_t(pid), block: false)
            }
        } catch {
            if error.errno == ECHILD {
                ChildRegistry.shared.remove(pid_t(pid))
                lua.pushNil()
                lua.push("not a child of this process")
                return 2
            }
            return ModuleError.raise(lua, .osError, error.description)
        }
        guard let status else {
            lua.pushNil()
            return 1
        }
        ChildRegistry.shared.remove(pid_t(pid))
        lua.push(Int64(status.exitcode))
        return 1
    }

    /// `_signal(pid, sig)` → true if delivered.
    static let signal: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let pid = lua.toInteger(1), let sig = lua.toInteger(2), pid > 0 else {
            return ModuleError.raise(lua, .valueError, "pid and signal expected")
        }
        lua.push(ProcessControl.send(Int32(sig), to: pid_t(pid)))
        return 1
    }

    /// `_exit(code)`: what a child does when its target is done: joins its
    /// own children (terminating daemons), flushes stdio, and `_exit`s.
    static let exit: LuaCFunction = { L in
        guard let L else { return 0 }
        let code = Lua(L).toInteger(1) ?? 0
        ChildRegistry.shared.finishAtExit()
        SharedReferences.releaseAll()
        ProcessControl.exitNow(Int32(truncatingIfNeeded: code))
    }
}
