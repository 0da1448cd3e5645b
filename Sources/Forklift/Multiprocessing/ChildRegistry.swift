internal import Glibc

/// The children this process started and has not reaped yet, so that the end
/// of the main script can terminate daemons and join the rest, and so that a
/// forked child can forget its parent's children.
final class ChildRegistry {
    nonisolated(unsafe) static let shared = ChildRegistry()

    struct Child {
        var daemon: Bool
    }
    private(set) var children: [pid_t: Child] = [:]

    func add(_ pid: pid_t, daemon: Bool) { children[pid] = Child(daemon: daemon) }
    func remove(_ pid: pid_t) { children[pid] = nil }
    /// In a freshly forked child: the parent's children are not ours.
    func forgetAll() { children.removeAll() }

    /// Terminates daemon children, then waits for every child.
    func finishAtExit() {
        for (pid, child) in children where child.daemon { kill(pid, SIGTERM) }
        for pid in children.keys {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        children.removeAll()
    }
}
