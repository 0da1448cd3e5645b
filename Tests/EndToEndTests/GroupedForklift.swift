import Foundation
import Glibc
import Testing

/// A `forklift` started the way a shell starts a foreground job: in its own
/// process group, with no blocked signals and default dispositions, so a test
/// can signal the whole group (Ctrl-C) or kill the host alone, and read what
/// it prints while it runs.
final class GroupedForklift {
    let pid: pid_t
    private let stdoutFD: Int32
    private var buffered: [UInt8] = []
    private var reaped = false
    let stderrPath: String

    init(_ source: String) throws {
        let path = try Forklift.script(source)
        stderrPath = path + ".stderr"
        var fds: [Int32] = [0, 0]
        // CLOEXEC at once: other tests spawn processes concurrently from this (threaded) process.
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw POSIXError(.EMFILE) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attributes, &all)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(Forklift.executable), strdup(path), nil]
        defer { for a in argv { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, Forklift.executable, &actions, &attributes, argv, environ)
        close(fds[1])
        guard rc == 0 else {
            close(fds[0])
            throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL)
        }
        pid = child
        stdoutFD = fds[0]
    }

    deinit {
        // Whatever happened, nothing of this test may outlive it.
        kill(-pid, SIGKILL)
        if !reaped { _ = waitForExit(timeout: 5) }
        close(stdoutFD)
    }

    /// The next line of the host's stdout (without the newline), nil on EOF or timeout.
    func readLine(timeout: Double = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let nl = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[..<nl], as: UTF8.self)
                buffered.removeSubrange(...nl)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n <= 0 { return nil }
            buffered += chunk[..<n]
        }
    }

    /// Waits for the host to end; its raw wait status, or nil on timeout.
    /// For a script that prints "waiting" and then blocks in `wait`: Ctrl-C
    /// (SIGINT to the host) must end it with lua's `interrupted!` report and
    /// status 1, before anything after the wait runs.
    func expectCtrlCEndsWait(_ wait: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(readLine() == "waiting", "\(stderr)", sourceLocation: sourceLocation)
        usleep(150_000)  // let the host reach its wait
        kill(pid, SIGINT)
        let status = try #require(
            waitForExit(timeout: 3), "\(wait): still waiting after Ctrl-C", sourceLocation: sourceLocation)
        #expect((status >> 8) & 0xff == 1, "wait status \(status)", sourceLocation: sourceLocation)
        #expect(stderr.contains("interrupted!"), "\(stderr)", sourceLocation: sourceLocation)
        #expect(readLine(timeout: 0.1) == nil, sourceLocation: sourceLocation)
    }

    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                reaped = true
                return status
            }
            if r < 0 { return nil }
            usleep(5000)
        } while Date() < deadline
        return nil
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}

/// Polls until every pid in `pids` has ended (or `timeout` passed); returns those still alive.
func survivors(of pids: [Int32], within timeout: Double) -> [Int32] {
    let deadline = Date().addingTimeInterval(timeout)
    var alive = pids
    while true {
        alive = alive.filter { !ProcessTable.isGoneOrZombie($0) }
        if alive.isEmpty || Date() >= deadline { return alive }
        usleep(2000)
    }
}
