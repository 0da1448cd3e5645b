/// Big-message chunks that are out of the chain while a process works on
/// them outside the queue's lock: filled by a producer before it links the
/// chunk, or read by a consumer after it unlinked it. Each is recorded with
/// the process's pid, so that when that process dies meanwhile (SIGKILL) the
/// chunk goes back to the allocator instead of staying until the tree exits.
///
/// A table of slots in the queue header, read and written under the queue
/// lock: (pid, chunk offset); pid 0 marks a free slot. When every slot is
/// taken the chunk simply goes unrecorded (it would only leak on a crash).
struct QueueInFlight {
    static let slots = 16
    static let tableBytes = slots * 16

    let base: UnsafeMutableRawPointer

    private func pid(_ i: Int) -> Int32 { base.load(fromByteOffset: i * 16, as: Int32.self) }
    private func chunk(_ i: Int) -> Int { Int(truncatingIfNeeded: base.load(fromByteOffset: i * 16 + 8, as: UInt64.self)) }
    private func set(_ i: Int, pid: Int32, chunk: Int) {
        base.storeBytes(of: UInt64(truncatingIfNeeded: chunk), toByteOffset: i * 16 + 8, as: UInt64.self)
        base.storeBytes(of: pid, toByteOffset: i * 16, as: Int32.self)
    }

    /// Records that `pid` holds `chunk` out of the chain; the slot to clear, or -1.
    func record(pid: Int32, chunk: Int) -> Int {
        for i in 0..<Self.slots where self.pid(i) == 0 {
            set(i, pid: pid, chunk: chunk)
            return i
        }
        return -1
    }

    /// The chunk of `slot` is back in the chain (or recycled).
    func clear(_ slot: Int) {
        if slot >= 0 && slot < Self.slots { set(slot, pid: 0, chunk: 0) }
    }

    /// Chunks recorded by processes other than `me` that are gone; their
    /// slots are freed (the caller gives the chunks back).
    func orphans(except me: Int32) -> [Int] {
        var found: [Int] = []
        for i in 0..<Self.slots where pid(i) != 0 && pid(i) != me && !QueueWriters.isAlive(pid(i)) {
            found.append(chunk(i))
            set(i, pid: 0, chunk: 0)
        }
        return found
    }

    /// Recorded chunks (tests).
    var count: Int { (0..<Self.slots).filter { pid($0) != 0 }.count }
}
