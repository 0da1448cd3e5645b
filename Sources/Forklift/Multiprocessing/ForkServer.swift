internal import CLua
internal import CSystem
internal import Glibc

/// The fork server (Python's multiprocessing/forkserver.py): a single-threaded
/// `forklift` started by exec, which forks workers on request. A process that
/// must not fork itself (it has threads) asks it instead.
///
/// Request, over a Unix stream socket: an 8-byte header (meta length, payload
/// length) carrying descriptors with SCM_RIGHTS — first the write end of a
/// status pipe, then the child's own descriptors (which become 5, 6, ...) —
/// followed by the meta and payload bytes. Reply: the child's pid as 4 bytes
/// (negative: -errno). When the child ends, the server writes its exit code
/// (4 bytes) to the status pipe: the child is not the requester's, so the
/// requester cannot `waitpid` it.
enum ForkServer {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("_forkserver_serve", serve), ("_forkserver_request", request), ("_wait_status", waitStatus),
            ("_socketpair", socketPair),
        ])
    }

    static let socketPair: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        do throws(SystemError) {
            let (a, b) = try makeSocketPair()
            lua.push(Int64(a.rawValue))
            lua.push(Int64(b.rawValue))
            return 2
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    private static func readAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Bool {
        (try? FileDescriptor(rawValue: fd).readExactly(into: p, count: n)) == true
    }

    /// `mp._forkserver_request(sock, meta, payload, {fds...}, daemon)` → pid, status fd.
    static let request: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let sock = lua.toInteger(1).map(Int32.init), let meta = lua.stringBytes(2),
            let payload = lua.stringBytes(3)
        else { return ModuleError.raise(lua, .valueError, "_forkserver_request(sock, meta, payload, fds)") }
        let status: (read: FileDescriptor, write: FileDescriptor)
        do throws(SystemError) { status = try makePipe() } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
        var fds: [Int32] = [status.write.rawValue]
        if lua.type(at: 4) == LUA_TTABLE {
            for i in 0..<lua.rawLength(4) {
                lua.rawGet(4, Int64(i + 1))
                if let fd = lua.toInteger(-1) { fds.append(Int32(fd)) }
                lua.pop()
            }
        }
        var header: (UInt32, UInt32) = (UInt32(meta.count), UInt32(payload.count))
        let sent = withUnsafeBytes(of: &header) { h in
            fds.withUnsafeBufferPointer { f in
                forklift_send_with_fds(sock, h.baseAddress, UInt(h.count), f.baseAddress, Int32(f.count))
            }
        }
        status.write.close()
        let fail = { (what: String) -> Int32 in
            status.read.close()
            return ModuleError.raise(lua, .osError, "the fork server is gone (\(what))")
        }
        guard sent == 8 else { return fail("send") }
        do throws(SystemError) {
            let s = FileDescriptor(rawValue: sock)
            if let p = meta.baseAddress { try s.writeAll(p, count: meta.count) }
            if let p = payload.baseAddress { try s.writeAll(p, count: payload.count) }
        } catch {
            return fail("write")
        }
        var reply: Int32 = 0
        guard withUnsafeMutableBytes(of: &reply, { readAll(sock, $0.baseAddress.unsafelyUnwrapped, 4) }) else {
            return fail("no reply")
        }
        reply = Int32(littleEndian: reply)
        if reply < 0 {
            status.read.close()
            return ModuleError.raise(lua, .osError, SystemError("fork (in the fork server)", errno: -reply).description)
        }
        ChildRegistry.shared.addExternal(pid_t(reply), statusFD: status.read.rawValue, daemon: lua.toBool(5))
        lua.push(Int64(reply))
        lua.push(Int64(status.read.rawValue))
        return 2
    }

    /// `mp._wait_status(obj, timeout)`: the exit code of a fork-server child
    /// whose status pipe is `obj._status`; nil while it runs (after waiting up
    /// to `timeout` seconds; nil waits for the end).
    static let waitStatus: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        if lua.getField(1, "_status_code") != LUA_TNIL { return 1 }
        lua.pop()
        lua.getField(1, "_status")
        guard let fd = lua.toInteger(-1).map(Int32.init), fd >= 0 else { return 0 }
        lua.pop()
        let timeout = lua.toNumber(2)
        let ready = (try? FileDescriptor(rawValue: fd).waitReadable(timeout: timeout)) ?? true
        guard ready else {
            lua.pushNil()
            return 1
        }
        var code: Int32 = 0
        let got = withUnsafeMutableBytes(of: &code) { readAll(fd, $0.baseAddress.unsafelyUnwrapped, 4) }
        FileDescriptor(rawValue: fd).close()
        ChildRegistry.shared.removeExternal(statusFD: fd)
        // No status at all: the fork server died, and the child with it (parent-death signal).
        let exitcode = got ? Int32(littleEndian: code) : -SIGKILL
        lua.push(Int64(exitcode))
        lua.setField(1, "_status_code")
        lua.push(Int64(-1))
        lua.setField(1, "_status")
        lua.push(Int64(exitcode))
        return 1
    }

    private struct Child {
        var pid: pid_t
        var pidfd: Int32
        var statusFD: Int32
    }

    /// `mp._forkserver_serve(sock)`: the server loop. Returns only in a forked
    /// child, with the meta and payload strings of its request; the server
    /// itself leaves when the socket reaches end of file.
    static let serve: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let sock = lua.toInteger(1).map(Int32.init) else { return 0 }
        var children: [Child] = []
        while true {
            var polls = [pollfd(fd: sock, events: Int16(POLLIN), revents: 0)]
            polls += children.map { pollfd(fd: $0.pidfd, events: Int16(POLLIN), revents: 0) }
            if poll(&polls, nfds_t(polls.count), -1) < 0 {
                if errno == EINTR { continue }
                ProcessControl.exitNow(1)
            }
            // Report the children that ended.
            var still: [Child] = []
            for (k, child) in children.enumerated() {
                guard polls[k + 1].revents != 0 else {
                    still.append(child)
                    continue
                }
                var code = Int32(-SIGKILL)
                if let status = try? ProcessControl.wait(child.pid, block: true) { code = status.exitcode }
                var le = code.littleEndian
                _ = withUnsafeBytes(of: &le) { Glibc.write(child.statusFD, $0.baseAddress, 4) }
                Glibc.close(child.statusFD)
                Glibc.close(child.pidfd)
            }
            children = still
            guard polls[0].revents != 0 else { continue }

            var header: (UInt32, UInt32) = (0, 0)
            var fds = [Int32](repeating: -1, count: 16)
            var nfds: Int32 = 0
            let r = withUnsafeMutableBytes(of: &header) { h in
                fds.withUnsafeMutableBufferPointer { f in
                    forklift_recv_with_fds(sock, h.baseAddress, 8, f.baseAddress, 16, &nfds)
                }
            }
            if r <= 0 {
                if r < 0 && errno == EINTR { continue }
                // The requester is gone: so is the reason to live.
                ProcessControl.exitNow(0)
            }
            let received = Array(fds.prefix(Int(nfds)))
            if r < 8 {
                let got = withUnsafeMutableBytes(of: &header) { readAll(sock, $0.baseAddress.unsafelyUnwrapped + r, 8 - r) }
                if !got { ProcessControl.exitNow(0) }
            }
            let metaCount = Int(UInt32(littleEndian: header.0)), payloadCount = Int(UInt32(littleEndian: header.1))
            // Lengths are bounded by what a frame may carry; a bad one ends the server.
            guard metaCount <= Int(FrameIO.maxFrame), payloadCount <= Int(FrameIO.maxFrame), received.count >= 1
            else { ProcessControl.exitNow(1) }
            var meta = [UInt8](repeating: 0, count: metaCount)
            var payload = [UInt8](repeating: 0, count: payloadCount)
            let complete = meta.withUnsafeMutableBytes { m in
                payload.withUnsafeMutableBytes { p in
                    (metaCount == 0 || readAll(sock, m.baseAddress.unsafelyUnwrapped, metaCount))
                        && (payloadCount == 0 || readAll(sock, p.baseAddress.unsafelyUnwrapped, payloadCount))
                }
            }
            guard complete else { ProcessControl.exitNow(1) }

            let pid: pid_t
            do { pid = try ProcessControl.fork() } catch {
                var reply = Int32(-ENOMEM).littleEndian
                _ = withUnsafeBytes(of: &reply) { Glibc.write(sock, $0.baseAddress, 4) }
                for fd in received { Glibc.close(fd) }
                continue
            }
            if pid == 0 {
                // The child: nothing of the server's but its own descriptors.
                Glibc.close(sock)
                for child in children {
                    Glibc.close(child.pidfd)
                    Glibc.close(child.statusFD)
                }
                Glibc.close(received[0])
                for (i, fd) in received.dropFirst().enumerated() {
                    let target = Int32(5 + i)
                    if fd != target {
                        dup2(fd, target)
                        Glibc.close(fd)
                    }
                }
                ChildRegistry.shared.forgetAll()
                lua.push(LuaString(bytes: meta))
                lua.push(LuaString(bytes: payload))
                return 2
            }
            for fd in received.dropFirst() { Glibc.close(fd) }
            let pidfd = forklift_pidfd_open(pid)
            children.append(Child(pid: pid, pidfd: pidfd, statusFD: received[0]))
            var reply = Int32(pid).littleEndian
            _ = withUnsafeBytes(of: &reply) { Glibc.write(sock, $0.baseAddress, 4) }
        }
    }
}
