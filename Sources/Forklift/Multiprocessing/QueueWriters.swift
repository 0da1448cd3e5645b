internal import Glibc

/// Which processes write to a queue, so that a reader of an empty, closed
/// queue can tell that nothing more can come (then `get` raises `EOF`
/// instead of blocking forever; see docs/queues.md).
///
/// A table of slots in the queue header, read and written under the queue
/// lock: (pid, state). A process takes a slot at its first `put` and marks it
/// closed at `close()`; a slot whose process is gone (exited, killed, or a
/// zombie not yet joined) counts as closed. When every slot is taken by a
/// live writer, the table overflows and EOF detection is off for the queue.
struct QueueWriters {
    static let slots = 64
    static let tableBytes = slots * 8

    let base: UnsafeMutableRawPointer

    enum State: UInt32 { case free = 0, writing = 1, closed = 2 }

    private func pid(_ i: Int) -> Int32 { base.load(fromByteOffset: i * 8, as: Int32.self) }
    private func state(_ i: Int) -> State { State(rawValue: base.load(fromByteOffset: i * 8 + 4, as: UInt32.self)) ?? .free }
    private func set(_ i: Int, pid: Int32, _ state: State) {
        base.storeBytes(of: pid, toByteOffset: i * 8, as: Int32.self)
        base.storeBytes(of: state.rawValue, toByteOffset: i * 8 + 4, as: UInt32.self)
    }

    /// True when slot `i` says `pid` is writing (the fast check at each put).
    @inline(__always) func isWriting(_ i: Int, pid: Int32) -> Bool {
        i >= 0 && i < Self.slots && self.pid(i) == pid && state(i) == .writing
    }

    /// Takes (or finds) the slot of `pid`; nil when the table is full of live writers.
    func register(pid: Int32) -> Int? {
        var free: Int?
        for i in 0..<Self.slots {
            if self.pid(i) == pid && state(i) != .free {
                set(i, pid: pid, .writing)
                return i
            }
            if free == nil && state(i) != .writing { free = i }
        }
        if free == nil {
            free = (0..<Self.slots).first { !Self.isAlive(self.pid($0)) }
        }
        guard let i = free else { return nil }
        set(i, pid: pid, .writing)
        return i
    }

    /// `close()` in process `pid`: it will put no more.
    func close(pid: Int32) {
        for i in 0..<Self.slots where self.pid(i) == pid && state(i) == .writing {
            set(i, pid: pid, .closed)
        }
    }

    /// True when a process other than `me` may still put: a slot is writing
    /// and its process is alive.
    func anyLiveWriter(except me: Int32) -> Bool {
        for i in 0..<Self.slots where state(i) == .writing && pid(i) != me {
            if Self.isAlive(pid(i)) { return true }
            set(i, pid: pid(i), .closed)
        }
        return false
    }

    /// A process exists and is not a zombie (a killed child stays a zombie
    /// until joined, and must count as gone). The corresponding C calls are
    /// `kill(pid, 0)` and a read of `/proc/<pid>/stat`.
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0, let close = buffer[0..<n].lastIndex(of: UInt8(ascii: ")")), close + 2 < n else { return true }
        let state = buffer[close + 2]
        return state != UInt8(ascii: "Z") && state != UInt8(ascii: "X")
    }
}
