internal import CSystem
internal import Glibc

/// A file descriptor number with the I/O calls the runtime needs.
/// It does not own the descriptor: whoever created it closes it.
struct FileDescriptor: RawRepresentable, Hashable {
    let rawValue: Int32
    init(rawValue: Int32) { self.rawValue = rawValue }

    /// Reads up to `count` bytes; 0 means end of file. The corresponding C function is `read`.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws(SystemError) -> Int {
        try retryingInterrupts("read") { Glibc.read(rawValue, buffer, count) }
    }

    /// Writes up to `count` bytes and returns how many were written. The corresponding C function is `write`.
    func write(_ buffer: UnsafeRawPointer, count: Int) throws(SystemError) -> Int {
        try retryingInterrupts("write") { Glibc.write(rawValue, buffer, count) }
    }

    /// Writes all `count` bytes (looping over short writes).
    func writeAll(_ buffer: UnsafeRawPointer, count: Int) throws(SystemError) {
        var done = 0
        while done < count { done += try write(buffer + done, count: count - done) }
    }

    /// Reads exactly `count` bytes; returns false on end of file before the first byte.
    /// - Throws: `SystemError` with `EIO` when the end of file comes in the middle.
    func readExactly(into buffer: UnsafeMutableRawPointer, count: Int) throws(SystemError) -> Bool {
        var done = 0
        while done < count {
            let n = try read(into: buffer + done, count: count - done)
            if n == 0 {
                if done == 0 { return false }
                throw SystemError("read (end of file in the middle of a message)", errno: EIO)
            }
            done += n
        }
        return true
    }

    /// Closes the descriptor (never retried on EINTR). The corresponding C function is `close`.
    func close() { _ = Glibc.close(rawValue) }

    /// Sets or clears O_NONBLOCK. The corresponding C function is `fcntl`.
    func setNonBlocking(_ on: Bool) throws(SystemError) {
        let flags = try retryingInterrupts("fcntl") { fcntl(rawValue, F_GETFL) }
        let new = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        _ = try retryingInterrupts("fcntl") { fcntl(rawValue, F_SETFL, new) }
    }

    /// Waits until the descriptor is readable (or its peer hung up) for at most
    /// `timeout` seconds (nil: forever); true when it is. The corresponding C function is `poll`.
    /// `interrupted` is asked after each signal: true gives up as on a time-out
    /// (Ctrl-C's hook then raises in the caller's Lua code).
    func waitReadable(timeout: Double?, interrupted: () -> Bool = { false }) throws(SystemError) -> Bool {
        try FileDescriptor.waitReadable([self], timeout: timeout, interrupted: interrupted).first != nil
    }

    /// Waits until any of `fds` is readable or hung up, at most `timeout`
    /// seconds (nil: forever); returns the ready ones (empty on timeout, or
    /// when `interrupted` says so after a signal).
    static func waitReadable(_ fds: [FileDescriptor], timeout: Double?, interrupted: () -> Bool = { false })
        throws(SystemError) -> [FileDescriptor]
    {
        var polls = fds.map { pollfd(fd: $0.rawValue, events: Int16(POLLIN), revents: 0) }
        // NaN or negative: look once. Beyond ~30 years (or infinite): no deadline
        // (the milliseconds below could not be represented).
        let deadline: Double? = timeout.flatMap { t in
            t.isNaN ? Clock.now() : t >= 1e9 ? nil : Clock.now() + max(0, t)
        }
        while true {
            var ms: Int32 = -1
            if let deadline { ms = Int32(clamping: Int(((deadline - Clock.now()) * 1000).rounded(.up)).clamped(0)) }
            let r = poll(&polls, nfds_t(polls.count), ms)
            if r < 0 {
                if errno == EINTR {
                    if interrupted() { return [] }
                    continue
                }
                throw SystemError("poll")
            }
            if r == 0 {
                if let deadline, Clock.now() < deadline { continue }
                return []
            }
            return zip(fds, polls).filter { $0.1.revents != 0 }.map { $0.0 }
        }
    }
}

extension Int {
    fileprivate func clamped(_ low: Int) -> Int { Swift.max(low, self) }
}

/// Both ends of a new pipe, close-on-exec. The corresponding C function is `pipe2`.
func makePipe() throws(SystemError) -> (read: FileDescriptor, write: FileDescriptor) {
    var fds: [Int32] = [0, 0]
    _ = try retryingInterrupts("pipe2") { forklift_pipe2(&fds, O_CLOEXEC) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}

/// A connected pair of Unix stream sockets, close-on-exec. The corresponding C function is `socketpair`.
func makeSocketPair() throws(SystemError) -> (FileDescriptor, FileDescriptor) {
    var fds: [Int32] = [0, 0]
    _ = try retryingInterrupts("socketpair") { socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) }
    return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
}
