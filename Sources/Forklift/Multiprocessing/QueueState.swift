internal import CSystem
internal import Glibc

/// The shared state of one queue: a header block in the arena and a chain of
/// chunk blocks holding framed, codec-encoded messages (see docs/queues.md).
///
/// Header (the queue block's payload; every field is read and written under
/// `mutex`, futex words are also read by the kernel):
///
/// | offset | field |
/// |---|---|
/// | 0 | first block of the chunk chain (the allocator follows it on free) |
/// | 8 | head: oldest data chunk (0: none) |
/// | 16 | tail: newest data chunk (0: none) |
/// | 24 | last spare chunk (0: none) |
/// | 32 | bytes held in spare chunks |
/// | 40 | committed messages |
/// | 48 | maxsize (0: unbounded) |
/// | 56 | queue kind |
/// | 60 | closed: some process called `close()` |
/// | 64/68/72 | not-empty futex sequence, waiters, wake-ups in flight |
/// | 76/80/84 | not-full futex sequence, waiters, wake-ups in flight |
/// | 88/92 | unfinished tasks (futex), `join()` waiters |
/// | 96 | writer table overflowed (EOF detection off) |
/// | 128 | robust mutex |
/// | 192 | writer table (`QueueWriters`) |
/// | 192 + 512 | chunks out of the chain (`QueueInFlight`) |
///
/// The chain is `spares... → head → ... → tail`: spare chunks are a prefix
/// (flagged), the data chunks follow, so one chain reaches every chunk and
/// freeing the queue block frees them all. A chunk's payload: next (8),
/// capacity (8), read position (8), write position (8), dedicated (1),
/// spare (1), then frames from byte 48. A frame is the message's length
/// (UInt32), the number of shared blocks it names (UInt32), the message
/// padded to 8 bytes, and those blocks' offsets (8 bytes each: the queue
/// holds a reference on each until the message is got, so a handle in a
/// queue outlives its sender). A dedicated chunk holds one big message and
/// is never appended to.
struct QueueState {
    /// Where the arena starts in this process (chunks are arena offsets).
    let arenaBase: UnsafeMutableRawPointer
    /// The queue block's offset: the queue's identity in every process.
    let offset: Int
    let base: UnsafeMutableRawPointer

    /// Only raw pointers, so that the per-message paths do no reference counting.
    init(arenaBase: UnsafeMutableRawPointer, offset: Int) {
        self.arenaBase = arenaBase
        self.offset = offset
        self.base = arenaBase + offset + SharedAllocator.headerSize
    }

    init(allocator: SharedAllocator, offset: Int) {
        self.init(arenaBase: allocator.arena.base, offset: offset)
    }

    /// The allocator, for the paths that allocate or free chunks.
    var allocator: SharedAllocator? { SharedArena.current.map(SharedAllocator.init) }

    static let headerBytes = 192 + QueueWriters.tableBytes + QueueInFlight.tableBytes
    static let chunkHeader = 48
    static let frameHeader = 8
    /// A standard chunk fills a 64 KiB block exactly.
    static let standardCapacity = (64 << 10) - SharedAllocator.headerSize - chunkHeader
    /// Messages above this get a dedicated chunk, filled and drained outside the lock.
    static let dedicatedThreshold = 16 << 10
    /// Emptied chunks kept for reuse (beyond this they go back to the allocator).
    static let spareLimit = 32 << 20

    /// The allocator kind of chunk blocks (next to `SharedKind.queue`;
    /// chunks never become Lua objects, so they are not a `SharedKind`).
    static let chunkKind: UInt8 = SharedKind.queue.rawValue + 1

    enum Kind: UInt32 { case queue = 0, joinable = 1, simple = 2 }

    // MARK: Header fields

    @inline(__always) private func u64(_ o: Int) -> Int {
        Int(truncatingIfNeeded: base.load(fromByteOffset: o, as: UInt64.self))
    }
    @inline(__always) private func setU64(_ o: Int, _ v: Int) { base.storeBytes(of: UInt64(truncatingIfNeeded: v), toByteOffset: o, as: UInt64.self) }
    @inline(__always) func word(_ o: Int) -> UnsafeMutablePointer<UInt32> { (base + o).assumingMemoryBound(to: UInt32.self) }

    var first: Int { get { u64(0) } nonmutating set { setU64(0, newValue) } }
    var head: Int { get { u64(8) } nonmutating set { setU64(8, newValue) } }
    var tail: Int { get { u64(16) } nonmutating set { setU64(16, newValue) } }
    var lastSpare: Int { get { u64(24) } nonmutating set { setU64(24, newValue) } }
    var spareBytes: Int { get { u64(32) } nonmutating set { setU64(32, newValue) } }
    var count: Int { get { u64(40) } nonmutating set { setU64(40, newValue) } }
    var maxsize: Int { get { u64(48) } nonmutating set { setU64(48, newValue) } }
    var kind: Kind { Kind(rawValue: word(56).pointee) ?? .queue }
    var closed: Bool { get { word(60).pointee != 0 } nonmutating set { word(60).pointee = newValue ? 1 : 0 } }
    var notEmpty: WaitPoint { WaitPoint(base: base, at: 64) }
    var notFull: WaitPoint { WaitPoint(base: base, at: 76) }
    var unfinished: UnsafeMutablePointer<UInt32> { word(88) }
    var joinWaiters: UnsafeMutablePointer<UInt32> { word(92) }
    var writersOverflowed: Bool { get { word(96).pointee != 0 } nonmutating set { word(96).pointee = newValue ? 1 : 0 } }
    var mutex: RobustMutex { RobustMutex((base + 128).assumingMemoryBound(to: pthread_mutex_t.self)) }
    var writers: QueueWriters { QueueWriters(base: base + 192) }
    var inFlight: QueueInFlight { QueueInFlight(base: base + 192 + QueueWriters.tableBytes) }

    /// Gives back the chunks that dead processes held out of the chain.
    func reclaimOrphans(except me: Int32) {
        guard let allocator else { return }
        for offset in inFlight.orphans(except: me) {
            let c = chunk(offset)
            c.next = 0
            allocator.release(offset)
        }
    }

    var isFull: Bool { maxsize > 0 && count >= maxsize }

    // MARK: Life

    /// Allocates and formats a new queue (reference count 1, held by the caller).
    static func create(_ allocator: SharedAllocator, kind: Kind, maxsize: Int) throws(SystemError) -> QueueState {
        let offset = try allocator.allocate(
            payloadBytes: headerBytes, kind: SharedKind.queue.rawValue, keepsDependent: true)
        let state = QueueState(allocator: allocator, offset: offset)
        do {
            try state.mutex.initialize()
        } catch {
            allocator.release(offset)
            throw error
        }
        state.maxsize = max(0, maxsize)
        state.word(56).pointee = kind.rawValue
        return state
    }

    /// Locks; when the previous holder died inside a critical section, the
    /// chain and counters are rebuilt from the chunks first.
    @inline(__always) func lock() {
        if mutex.lock() == .previousOwnerDied { recover() }
    }

    @inline(__always) func unlock() { mutex.unlock() }

    // MARK: Chunks

    func chunk(_ offset: Int) -> Chunk { Chunk(offset: offset, base: arenaBase + offset + SharedAllocator.headerSize) }

    /// A chunk able to hold `capacity` frame bytes, from the spares when one
    /// fits, else fresh from the allocator. Unlinked, reset, not dedicated.
    func obtainChunk(capacity: Int) throws(SystemError) -> Chunk {
        var previous = 0
        var candidate = lastSpare == 0 ? 0 : first
        while candidate != 0 {
            let c = chunk(candidate)
            if c.capacity >= capacity {
                let after = c.next
                if previous == 0 { first = after } else { chunk(previous).next = after }
                if candidate == lastSpare { lastSpare = previous }
                spareBytes -= c.capacity
                c.reset()
                return c
            }
            if candidate == lastSpare { break }
            previous = candidate
            candidate = c.next
        }
        let payload = Self.chunkHeader + capacity
        // Round big chunks up to whole pages so that similar sizes reuse them.
        let rounded = capacity <= Self.standardCapacity ? payload
            : (payload + SharedAllocator.headerSize + 4095) / 4096 * 4096 - SharedAllocator.headerSize
        guard let allocator else { throw SystemError("shared memory", errno: ENOMEM) }
        let offset = try allocator.allocate(payloadBytes: rounded, kind: Self.chunkKind, keepsDependent: true)
        let c = chunk(offset)
        c.capacity = rounded - Self.chunkHeader
        c.reset()
        if capacity > Self.standardCapacity { Self.populate(c.base, bytes: rounded) }
        return c
    }

    /// `MADV_POPULATE_WRITE` (Linux 5.14; not in Glibc's Swift overlay).
    private static let populateWrite: Int32 = 23

    /// Backs a fresh big chunk's pages in one call rather than one page fault
    /// per 4 KiB as the message is copied in (older kernels refuse it: then
    /// the copy faults them in as before). The corresponding C function is `madvise`.
    private static func populate(_ start: UnsafeMutableRawPointer, bytes: Int) {
        let page = 4096
        let first = (Int(bitPattern: start) + page - 1) & ~(page - 1)
        let end = (Int(bitPattern: start) + bytes) & ~(page - 1)
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, populateWrite)
    }

    /// Links `c` after the tail (it becomes the tail).
    func append(_ c: Chunk) {
        c.next = 0
        if tail != 0 {
            chunk(tail).next = c.offset
        } else {
            if lastSpare != 0 { chunk(lastSpare).next = c.offset } else { first = c.offset }
            head = c.offset
        }
        tail = c.offset
    }

    /// Unlinks the head chunk and returns it.
    func popHead() -> Chunk {
        let h = chunk(head)
        let after = h.next
        if lastSpare != 0 { chunk(lastSpare).next = after } else { first = after }
        head = after
        if after == 0 { tail = 0 }
        h.next = 0
        return h
    }

    /// Keeps an emptied chunk as a spare, or gives it back to the allocator.
    func recycle(_ c: Chunk) {
        let allocator = spareBytes + c.capacity <= Self.spareLimit ? nil : self.allocator
        if let allocator {
            c.next = 0
            allocator.release(c.offset)
        } else {
            c.isSpare = true
            c.next = first
            first = c.offset
            if lastSpare == 0 { lastSpare = c.offset }
            spareBytes += c.capacity
        }
    }

    // MARK: Recovery

    /// Rebuilds what a process killed inside a critical section may have left
    /// half-updated, from what is committed in the chunks: the spare prefix,
    /// head, tail, the message count (frames up to each write position) and
    /// the wake-up bookkeeping. Sleepers are woken to look again.
    func recover() {
        var spares = 0, spareTotal = 0
        var link = first
        while link != 0, chunk(link).isSpare {
            spares = link
            spareTotal += chunk(link).capacity
            link = chunk(link).next
        }
        lastSpare = spares
        spareBytes = spareTotal
        head = link
        var last = 0, messages = 0
        while link != 0 {
            let c = chunk(link)
            messages += c.repairFrames()
            last = link
            link = c.next
        }
        tail = last
        count = messages
        reclaimOrphans(except: 0)
        notEmpty.forgetPendingWakes()
        notFull.forgetPendingWakes()
        notEmpty.wakeAll()
        notFull.wakeAll()
        Futex(unfinished).wakeAll()
    }
}

/// A chunk of the chain (see `QueueState`).
struct Chunk {
    let offset: Int
    let base: UnsafeMutableRawPointer

    @inline(__always) private func get(_ o: Int) -> Int { Int(truncatingIfNeeded: base.load(fromByteOffset: o, as: UInt64.self)) }
    @inline(__always) private func set(_ o: Int, _ v: Int) { base.storeBytes(of: UInt64(truncatingIfNeeded: v), toByteOffset: o, as: UInt64.self) }

    var next: Int { get { get(0) } nonmutating set { set(0, newValue) } }
    var capacity: Int { get { get(8) } nonmutating set { set(8, newValue) } }
    var readPosition: Int { get { get(16) } nonmutating set { set(16, newValue) } }
    var writePosition: Int { get { get(24) } nonmutating set { set(24, newValue) } }
    var dedicated: Bool {
        get { base.load(fromByteOffset: 32, as: UInt8.self) != 0 }
        nonmutating set { base.storeBytes(of: newValue ? 1 : 0, toByteOffset: 32, as: UInt8.self) }
    }
    var isSpare: Bool {
        get { base.load(fromByteOffset: 33, as: UInt8.self) != 0 }
        nonmutating set { base.storeBytes(of: newValue ? 1 : 0, toByteOffset: 33, as: UInt8.self) }
    }
    var frames: UnsafeMutableRawPointer { base + QueueState.chunkHeader }
    var room: Int { capacity - writePosition }

    func reset() {
        next = 0
        readPosition = 0
        writePosition = 0
        dedicated = false
        isSpare = false
    }

    /// Bytes a frame takes: header, message padded to 8, then the offsets of
    /// the shared blocks the message names (the queue holds them alive).
    @inline(__always) static func frameSize(_ length: Int, references: Int = 0) -> Int {
        ((QueueState.frameHeader + length + 7) & ~7) + 8 * references
    }

    /// Writes one frame at the write position (the caller checked the room)
    /// and commits it by advancing the write position last.
    @inline(__always) func write(_ prefix: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer, references: [Int]) {
        let at = frames + writePosition
        let length = prefix.count + body.count
        at.storeBytes(of: UInt32(truncatingIfNeeded: length), as: UInt32.self)
        at.storeBytes(of: UInt32(truncatingIfNeeded: references.count), toByteOffset: 4, as: UInt32.self)
        if let p = prefix.baseAddress, prefix.count > 0 { (at + QueueState.frameHeader).copyMemory(from: p, byteCount: prefix.count) }
        if let b = body.baseAddress, body.count > 0 {
            (at + QueueState.frameHeader + prefix.count).copyMemory(from: b, byteCount: body.count)
        }
        var slot = at + Chunk.frameSize(length)
        for r in references {
            slot.storeBytes(of: UInt64(truncatingIfNeeded: r), as: UInt64.self)
            slot += 8
        }
        writePosition += Chunk.frameSize(length, references: references.count)
    }

    /// The frame at the read position (without consuming it).
    @inline(__always) func peek() -> Frame {
        let at = frames + readPosition
        let length = Int(at.load(as: UInt32.self))
        let references = Int(at.load(fromByteOffset: 4, as: UInt32.self))
        return Frame(
            message: UnsafeRawBufferPointer(start: at + QueueState.frameHeader, count: length),
            references: UnsafeRawPointer(at + Chunk.frameSize(length)), referenceCount: references,
            size: Chunk.frameSize(length, references: references))
    }

    /// Counts the committed frames, cutting the chunk at the first frame
    /// that cannot be right (so a torn state never reads past the chunk).
    func repairFrames() -> Int {
        if writePosition > capacity || writePosition < 0 { writePosition = capacity }
        if readPosition > writePosition || readPosition < 0 { readPosition = writePosition }
        var position = readPosition, frames = 0
        while position < writePosition {
            let length = Int((self.frames + position).load(as: UInt32.self))
            let references = Int((self.frames + position).load(fromByteOffset: 4, as: UInt32.self))
            let size = Chunk.frameSize(length, references: references)
            if position + size > writePosition { break }
            position += size
            frames += 1
        }
        writePosition = position
        return frames
    }
}

/// A condition processes wait on: a futex sequence word, the number of
/// waiters and the wake-ups sent but not yet taken. A putter wakes only when
/// there are more waiters than wake-ups in flight, so a stream of puts to a
/// sleeping reader costs one `futex` call per wake-up, not per message.
struct WaitPoint {
    let base: UnsafeMutableRawPointer
    let at: Int

    var sequence: UnsafeMutablePointer<UInt32> { (base + at).assumingMemoryBound(to: UInt32.self) }
    private var waiters: UnsafeMutablePointer<UInt32> { (base + at + 4).assumingMemoryBound(to: UInt32.self) }
    private var pending: UnsafeMutablePointer<UInt32> { (base + at + 8).assumingMemoryBound(to: UInt32.self) }

    /// Under the lock: true when the caller must `wake()` after unlocking.
    @inline(__always) func signal() -> Bool {
        guard waiters.pointee > pending.pointee else { return false }
        pending.pointee += 1
        sequence.pointee &+= 1
        return true
    }

    @inline(__always) func wake() { Futex(sequence).wake(1) }

    /// Called with the lock held; returns with it held. False when `deadline` passed.
    func wait(_ state: QueueState, deadline: Double?) -> Bool {
        waiters.pointee += 1
        let seen = sequence.pointee
        state.unlock()
        let inTime = Futex(sequence).wait(whileEqualTo: seen, deadline: deadline)
        state.lock()
        if waiters.pointee > 0 { waiters.pointee -= 1 }
        if pending.pointee > 0 { pending.pointee -= 1 }
        return inTime
    }

    /// After a crash: wake-ups may have been lost with their process; extra
    /// ones only cost a spurious look.
    func forgetPendingWakes() { pending.pointee = 0 }

    /// Wakes every waiter (close, recovery).
    func wakeAll() {
        sequence.pointee &+= 1
        Futex(sequence).wakeAll()
    }
}

/// One frame as read from a chunk.
struct Frame {
    let message: UnsafeRawBufferPointer
    let references: UnsafeRawPointer
    let referenceCount: Int
    let size: Int

    /// The shared blocks the message names (no allocation when there are none).
    var referenceList: [Int] {
        referenceCount == 0 ? [] : (0..<referenceCount).map {
            Int(truncatingIfNeeded: references.load(fromByteOffset: $0 * 8, as: UInt64.self))
        }
    }
}
