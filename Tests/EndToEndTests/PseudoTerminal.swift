import Foundation
import Testing

/// `forklift` running on a real pseudo-terminal, as a user at a terminal
/// runs it: in a new session whose controlling terminal it is, so a Ctrl-C
/// typed on it is a SIGINT from the line discipline.
///
/// Spawned with `posix_spawn` rather than `Process`: the test's threads
/// block most signals, and a child inherits that mask; a shell starts
/// programs with none blocked and default handlers, and so does this.
final class TerminalSession {
    private let master: Int32
    private let pid: pid_t
    private var status: Int32?
    private var output: [UInt8] = []
    /// Where the next `expect` starts looking.
    private var mark = 0

    init(arguments: [String] = [], home: URL, timeout: Double = 20) throws {
        // posix_openpt and friends are not visible from Swift's Glibc; on
        // Linux they are /dev/ptmx plus two ioctls (unlock, get the number).
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard master >= 0 else { throw POSIXError(.ENOTTY) }
        var unlock: CInt = 0
        var number: CInt = 0
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        guard ioctl(master, TIOCSPTLCK, &unlock) == 0, ioctl(master, TIOCGPTN, &number) == 0 else {
            close(master)
            throw POSIXError(.ENOTTY)
        }
        let terminal = "/dev/pts/\(number)"

        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        // The new session leader opening the terminal makes it its controlling one.
        posix_spawn_file_actions_addopen(&actions, 0, terminal, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        let POSIX_SPAWN_SETSID: Int16 = 0x80  // glibc's value; hidden behind _GNU_SOURCE
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK) | Int16(POSIX_SPAWN_SETSIGDEF) | POSIX_SPAWN_SETSID)

        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["TERM"] = "xterm"
        env["LUA_INIT"] = nil
        env["LUA_INIT_5_4"] = nil
        let argv = [Forklift.executable] + arguments
        let envp = env.map { "\($0.key)=\($0.value)" }
        var cArgv = argv.map { strdup($0) } + [nil]
        var cEnvp = envp.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnvp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, Forklift.executable, &actions, &attributes, &cArgv, &cEnvp)
        guard rc == 0 else {
            close(master)
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL)
        }
        pid = child
        deadline = Date().addingTimeInterval(timeout)
    }

    private let deadline: Date

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            waitpid(pid, &raw, 0)
        }
        close(master)
    }

    /// Types `text` (use "\r" for Enter, "\u{3}" for Ctrl-C, "\u{4}" for Ctrl-D).
    func type(_ text: String) {
        // libedit prints the prompt before it puts the terminal in raw mode;
        // keys typed in between are seen in cooked mode (a Ctrl-D there is
        // lost). A person types slower than that: so does this.
        Thread.sleep(forTimeInterval: 0.15)
        var bytes = Array(text.utf8)
        let n = bytes.withUnsafeMutableBytes { write(master, $0.baseAddress, $0.count) }
        #expect(n == bytes.count)
    }

    /// Waits until `text` appears in the output after the previous match;
    /// false (and an issue) if it does not within `seconds`.
    @discardableResult
    func expect(
        _ text: String, within seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation
    ) -> Bool {
        let needle = Array(text.utf8)
        let end = min(Date().addingTimeInterval(seconds), deadline)
        while true {
            if let range = find(needle) {
                mark = range
                return true
            }
            let remaining = end.timeIntervalSinceNow
            guard remaining > 0, readSome(timeout: remaining) else {
                Issue.record(
                    "did not see \(text.debugDescription) in \(transcript.debugDescription)",
                    sourceLocation: sourceLocation)
                return false
            }
        }
    }

    /// Everything the terminal showed so far.
    var transcript: String { String(decoding: output, as: UTF8.self) }

    /// Types Ctrl-D at the prompt and returns the exit status. A Ctrl-D that
    /// arrives while libedit is still switching the terminal to raw mode is
    /// lost (on a loaded machine that window can exceed the typing delay), so
    /// it is typed again while the process still runs.
    func leave(sourceLocation: SourceLocation = #_sourceLocation) -> Int32? {
        for _ in 0..<5 where status == nil {
            Thread.sleep(forTimeInterval: 0.15)
            var eof: UInt8 = 4
            _ = write(master, &eof, 1)  // may fail if it has just exited: no matter
            let end = Date().addingTimeInterval(2)
            while status == nil && Date() < end {
                _ = readSome(timeout: 0.05)
                reap()
            }
        }
        return waitForExit(sourceLocation: sourceLocation)
    }

    private func reap() {
        var raw: Int32 = 0
        if status == nil, waitpid(pid, &raw, WNOHANG) == pid {
            // Exited normally: the status byte; killed: 128 + signal, as a shell shows it.
            status = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        }
    }

    /// Waits for the process to end and returns its exit status.
    func waitForExit(sourceLocation: SourceLocation = #_sourceLocation) -> Int32? {
        while status == nil && Date() < deadline {
            _ = readSome(timeout: 0.05)
            reap()
        }
        guard let status else {
            Issue.record("forklift did not exit: \(transcript.debugDescription)", sourceLocation: sourceLocation)
            return nil
        }
        while readSome(timeout: 0.05) {}
        return status
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard !needle.isEmpty, output.count - mark >= needle.count else { return nil }
        for start in mark...(output.count - needle.count) where output[start..<start + needle.count].elementsEqual(needle) {
            return start + needle.count
        }
        return nil
    }

    /// Reads what is available within `timeout`; false when nothing came.
    private func readSome(timeout: Double) -> Bool {
        var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        guard poll(&fds, 1, Int32(max(1, timeout * 1000))) > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        output += buffer[0..<n]
        return true
    }
}
