internal import CLua
internal import CSystem
internal import Glibc

/// The entry point of a process started by the `spawn` start method (and of
/// the fork server): a fresh `forklift` executable told by a hidden first
/// argument to become a worker instead of running a script.
///
/// Descriptors it inherits: 3 the parent's spec connection (read end), 4 the
/// shared-memory arena, 5 and 6 (pool workers) the task and result pipes.
public enum SpawnedProcess {
    /// The hidden first argument: `forklift --forklift-spawned <parent pid>`.
    public static let flag = "--forklift-spawned"

    /// The argument after the parent's pid when the parent had several
    /// threads when it spawned this process.
    public static let threadedParentFlag = "--threaded-parent"

    /// True when `arguments` (argv) ask for a spawned worker.
    public static func isRequested(_ arguments: [String]) -> Bool {
        arguments.count >= 3 && arguments[1] == flag
    }

    /// Starts the `forklift` executable clean: no signal blocked, whatever its
    /// launcher blocked (see `ProcessControl.unblockAllSignals`).
    public static func prepareExecutable() { ProcessControl.unblockAllSignals() }

    /// Runs the worker and returns its exit status (normally it leaves
    /// through `_exit` from Lua and never returns). `prepare` runs on the
    /// worker's state before anything else (an embedding program registers
    /// its Swift functions there).
    public static func main(_ arguments: [String], prepare: ((LuaState) throws -> Void)? = nil) -> Int32 {
        guard arguments.count >= 3, let parent = pid_t(arguments[2]) else { return 2 }
        // The death signal follows the parent *thread* that spawned us: with a
        // multithreaded parent that thread may end long before the parent
        // (Dispatch retires idle threads), which would kill a healthy worker or
        // fork server. Then the pipes' EOF is what ends us when the parent goes.
        let threadedParent = arguments.count >= 4 && arguments[3] == threadedParentFlag
        if !threadedParent { _ = forklift_set_parent_death_signal(SIGKILL) }
        if getppid() != parent { return 1 }
        ProcessControl.unblockAllSignals()
        ProcessControl.restoreDefaultCrashSignals()
        do {
            _ = try SharedArena.adopt(descriptor: 4)
        } catch {
            fputs("forklift worker: cannot map the shared arena: \(error)\n", forklift_stderr())
            return 1
        }
        let state: LuaState
        do { state = try LuaState() } catch {
            fputs("forklift worker: cannot create a Lua state\n", forklift_stderr())
            return 1
        }
        state.installMultiprocessing()
        do {
            try prepare?(state)
        } catch {
            fputs("forklift worker: the embedding program's setup failed: \(error)\n", forklift_stderr())
            fflush(nil)
            return 1
        }
        do {
            try state.run(#"require("multiprocessing")._spawned_main(...)"#, chunkName: "=[spawned]",
                          arguments: arguments.dropFirst(threadedParent ? 4 : 3).map { LuaValue.string(LuaString($0)) })
        } catch {
            fputs("forklift worker: \(error.description)\n", forklift_stderr())
            fflush(nil)
            return 1
        }
        fflush(nil)
        return 0
    }
}
