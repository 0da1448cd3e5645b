internal import CSystem
internal import Glibc

/// How a child process ended.
enum ExitStatus: Equatable {
    case exited(Int32)
    case signaled(Int32)

    /// Python's `exitcode`: the exit status, or minus the signal number.
    var exitcode: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let sig): -sig
        }
    }

    init(rawStatus s: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift cannot import as macros.
        if s & 0x7f == 0 {
            self = .exited((s >> 8) & 0xff)
        } else {
            self = .signaled(s & 0x7f)
        }
    }
}

/// Forking and reaping children, following the fork rules of the project:
/// refuse to fork a multithreaded process, flush stdio first, and make every
/// child die with its parent.
enum ProcessControl {
    /// Threads in this process: field 20 of /proc/self/stat, in one read
    /// (the check runs before every fork; listing /proc/self/task took five
    /// system calls). No descriptor is kept open between forks: a hidden one
    /// would show up in every descriptor count and name the wrong process in a child.
    static func threadCount() -> Int {
        let fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC)
        if fd < 0 { return 1 }
        defer { _ = Glibc.close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1024) { buffer -> Int in
            guard let base = buffer.baseAddress else { return 1 }
            let n = Glibc.read(fd, base, buffer.count)
            guard n > 0 else { return 1 }
            return numThreads(inStat: UnsafeBufferPointer(start: base, count: n)) ?? 1
        }
    }

    /// The `num_threads` field of a /proc/<pid>/stat text.
    static func numThreads(inStat text: UnsafeBufferPointer<UInt8>) -> Int? {
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses,
        // so fields are counted from the last ')'.
        guard let close = text.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        var field = 2
        var value = 0
        var sawDigit = false
        for c in text[(close + 1)...] {
            if c == UInt8(ascii: " ") {
                if field == 20 { break }
                field += 1
            } else if field == 20 {
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
                sawDigit = true
            }
        }
        return sawDigit && value > 0 ? value : nil
    }

    struct ForkRefused: Error, CustomStringConvertible {
        var threads: Int
        var description: String {
            "cannot fork: this process has \(threads) threads (forking a multithreaded process is unsafe); "
                + "use the forkserver or spawn start method"
        }
    }

    /// Forks. In the child, returns 0 after arranging for it to be killed when
    /// this process dies, even by SIGKILL (`PR_SET_PDEATHSIG`). The
    /// corresponding C function is `fork`.
    /// - Throws: `ForkRefused` when other threads exist, `SystemError` when fork fails.
    static func fork() throws(any Error) -> pid_t {
        let threads = threadCount()
        guard threads <= 1 else { throw ForkRefused(threads: threads) }
        let parent = getpid()
        fflush(nil)  // or buffered output would be printed by both processes
        // The child starts on this CPU: placed on an idle one it may wait
        // milliseconds for that (virtual) CPU to wake, which made a start+join
        // 2–6× slower here. Both sides get the full affinity back at once, so
        // a busy child still spreads to other CPUs.
        let pinned = CPUAffinity.pinHere()
        let pid = Glibc.fork()
        if pinned { CPUAffinity.restore() }
        if pid < 0 { throw SystemError("fork") }
        if pid == 0 {
            _ = forklift_set_parent_death_signal(SIGKILL)
            // The parent may have died between fork and prctl.
            if getppid() != parent { _exit(1) }
            // A host started with signals blocked (Foundation's `Process` leaves
            // SIGTERM and SIGINT blocked in what it launches) would otherwise make
            // children that `terminate()` and Ctrl-C cannot stop. The Swift
            // runtime's crash reporter catches SIGSEGV & co., and a `kill -SEGV`
            // (no real fault) would then return into the child, which would run
            // on: a child must die of them, so its parent sees the signal.
            forklift_child_default_signals()
        }
        return pid
    }

    /// Keeps a forked child on its parent's CPU until it has started (see `fork`).
    enum CPUAffinity {
        /// The saved mask (a `cpu_set_t`): one buffer for the process, never freed.
        nonisolated(unsafe) private static let saved = UnsafeMutableRawPointer.allocate(
            byteCount: Int(forklift_affinity_size()), alignment: 16)

        /// Pins this (only) thread to its current CPU; false if it could not.
        static func pinHere() -> Bool { forklift_affinity_pin_here(saved) == 0 }
        /// Restores the mask `pinHere` saved (inherited as is by a forked child).
        static func restore() { _ = forklift_affinity_restore(saved) }
    }

    /// Flushes stdio and ends the process at once (no atexit handlers, no Lua
    /// finalizers: the state belongs to the parent's copy). The corresponding C function is `_exit`.
    static func exitNow(_ code: Int32) -> Never {
        fflush(nil)
        _exit(code)
    }

    /// Reaps `pid` if it has ended (`block`: waits for it). nil while it runs.
    /// The corresponding C function is `waitpid`.
    static func wait(_ pid: pid_t, block: Bool) throws(SystemError) -> ExitStatus? {
        var status: Int32 = 0
        let r = try retryingInterrupts("waitpid") { waitpid(pid, &status, block ? 0 : WNOHANG) }
        return r == 0 ? nil : ExitStatus(rawStatus: status)
    }

    /// Waits at most `timeout` seconds for `pid` to end and reaps it; nil on timeout.
    static func wait(_ pid: pid_t, timeout: Double) throws(SystemError) -> ExitStatus? {
        if let status = try wait(pid, block: false) { return status }
        let pidfd = forklift_pidfd_open(pid)
        if pidfd >= 0 {
            let fd = FileDescriptor(rawValue: pidfd)
            defer { fd.close() }
            _ = try fd.waitReadable(timeout: timeout)
            return try wait(pid, block: false)
        }
        // No pidfd (old kernel): poll with a growing sleep.
        let deadline = Clock.now() + timeout
        var pause = 0.0005
        while Clock.now() < deadline {
            Clock.sleep(min(pause, max(0, deadline - Clock.now())))
            if let status = try wait(pid, block: false) { return status }
            pause = min(pause * 2, 0.05)
        }
        return nil
    }

    /// Unblocks every signal in this thread. A process launched from a thread
    /// that blocks signals (as Foundation's `Process` does) inherits that
    /// mask; the `forklift` executable starts clean so that Ctrl-C and
    /// `terminate()` reach it and its children. The corresponding C function is `sigprocmask`.
    static func unblockAllSignals() {
        var empty = sigset_t()
        sigemptyset(&empty)
        sigprocmask(SIG_SETMASK, &empty, nil)
    }

    /// In a child (forked or spawned): crash signals get their default action.
    /// The Swift runtime's crash reporter catches them, and after a `kill
    /// -SEGV` (no real fault) it returns into the process, which then runs on:
    /// a child must die of them so that its parent sees the signal (a pool
    /// reports `WorkerLost` with `signal = 11`). The corresponding C function is `signal`.
    static func restoreDefaultCrashSignals() {
        for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT] { _ = Glibc.signal(sig, SIG_DFL) }
    }

    /// Sends `signal` to `pid`; false if it no longer exists. The corresponding C function is `kill`.
    @discardableResult
    static func send(_ signal: Int32, to pid: pid_t) -> Bool { kill(pid, signal) == 0 }
}
