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
    /// Children of the fork server started for us: not ours to `waitpid`;
    /// their exit status arrives on `statusFD`.
    private(set) var external: [pid_t: (statusFD: Int32, daemon: Bool)] = [:]

    func addExternal(_ pid: pid_t, statusFD: Int32, daemon: Bool) { external[pid] = (statusFD, daemon) }
    func removeExternal(statusFD: Int32) { external = external.filter { $0.value.statusFD != statusFD } }

    func add(_ pid: pid_t, daemon: Bool) { children[pid] = Child(daemon: daemon) }
    func remove(_ pid: pid_t) { children[pid] = nil }
    /// In a freshly forked child: the parent's children are not ours.
    func forgetAll() {
        children.removeAll()
        external.removeAll()
    }

    /// Terminates daemon children, then waits for every child.
    func finishAtExit() {
        // Fork-server children first: the server is a daemon child of ours,
        // and its children die with it.
        for (pid, child) in external where child.daemon { kill(pid, SIGTERM) }
        for (_, child) in external {
            var code: Int32 = 0
            _ = try? FileDescriptor(rawValue: child.statusFD).readExactly(into: &code, count: 4)
            Glibc.close(child.statusFD)
        }
        external.removeAll()
        for (pid, child) in children where child.daemon { kill(pid, SIGTERM) }
        for (pid, child) in children {
            // A daemon that ignores SIGTERM gets SIGKILL after a second.
            // (A wait that fails means the pid is not ours any more: never signal it then.)
            if child.daemon {
                do throws(SystemError) {
                    if try ProcessControl.wait(pid, timeout: 1.0) != nil { continue }
                } catch {
                    continue
                }
                kill(pid, SIGKILL)
            }
            _ = try? ProcessControl.wait(pid, block: true)
        }
        children.removeAll()
    }
}
