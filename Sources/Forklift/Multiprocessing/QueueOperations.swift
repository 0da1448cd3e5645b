internal import Glibc

/// Why a queue operation did not complete.
enum QueueFailure: Error {
    case empty, full
    /// The queue is empty, closed, and no live process can put any more.
    case endOfFile
    /// The arena could not give a chunk.
    case memory(SystemError)
    /// Ctrl-C asked the running chunk to stop (its hook raises when back in Lua).
    case interrupted
    /// A message longer than a frame can describe (4 GiB).
    case tooLarge
}

/// How long an operation may wait.
enum Blocking {
    case never
    case until(Double)
    case forever

    var deadline: Double? {
        switch self {
        case .never: return -Double.infinity
        case .until(let d): return d
        case .forever: return nil
        }
    }
}

/// Where a small message is copied out under the lock, to be decoded after it.
/// One buffer per process serves every `get`; a `get` that runs while another
/// is decoding (from a `__gc` finalizer the decoder's allocations ran) gets a
/// buffer of its own.
enum QueueScratch {
    nonisolated(unsafe) private static let shared = UnsafeMutableRawPointer.allocate(
        byteCount: QueueState.standardCapacity, alignment: 16)
    nonisolated(unsafe) private static var sharedInUse = false

    static func take() -> UnsafeMutableRawPointer {
        if sharedInUse { return UnsafeMutableRawPointer.allocate(byteCount: QueueState.standardCapacity, alignment: 16) }
        sharedInUse = true
        return shared
    }

    static func giveBack(_ buffer: UnsafeMutableRawPointer) {
        if buffer == shared { sharedInUse = false } else { buffer.deallocate() }
    }
}

extension QueueState {
    /// While a reader waits on a closed queue it looks this often whether
    /// its writers are still alive (they can die without waking it).
    static let writerPollInterval = 0.05

    /// Appends one message, `prefix` then `body`, waiting for room in a
    /// bounded queue as `blocking` allows. `writerSlot` caches this process's
    /// slot in the writer table. Small messages are copied under the lock;
    /// big ones go to a dedicated chunk filled outside it and linked after.
    func put(
        _ prefix: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer, references: [Int],
        writerSlot: inout Int, pid: Int32, blocking: Blocking, interrupted: () -> Bool
    ) throws(QueueFailure) {
        let length = prefix.count + body.count
        guard length < Int(UInt32.max) - 64 else { throw .tooLarge }
        let size = Chunk.frameSize(length, references: references.count)
        lock()
        while isFull {
            let inTime: Bool
            switch blocking {
            case .never: inTime = false
            case .until(let d): inTime = notFull.wait(self, deadline: d)
            case .forever: inTime = notFull.wait(self, deadline: nil)
            }
            if !inTime && isFull {
                unlock()
                throw .full
            }
            if interrupted() {
                unlock()
                throw .interrupted
            }
        }
        if !writersOverflowed && !writers.isWriting(writerSlot, pid: pid) {
            if let slot = writers.register(pid: pid) { writerSlot = slot } else { writersOverflowed = true }
        }
        if length > Self.dedicatedThreshold {
            if inFlight.count > 0 { reclaimOrphans(except: pid) }
            let c: Chunk
            do { c = try obtainChunk(capacity: size) } catch {
                unlock()
                throw .memory(error)
            }
            let slot = inFlight.record(pid: pid, chunk: c.offset)
            hold(references)
            unlock()
            c.write(prefix, body, references: references)
            c.dedicated = true
            lock()
            inFlight.clear(slot)
            append(c)
        } else {
            var t = tail
            if t == 0 || chunk(t).dedicated || chunk(t).room < size {
                let c: Chunk
                do { c = try obtainChunk(capacity: Self.standardCapacity) } catch {
                    unlock()
                    throw .memory(error)
                }
                append(c)
                t = c.offset
            }
            hold(references)
            chunk(t).write(prefix, body, references: references)
        }
        count += 1
        if kind == .joinable { unfinished.pointee += 1 }
        let wake = notEmpty.signal()
        unlock()
        if wake { notEmpty.wake() }
    }

    /// Takes the oldest message and calls `body` with its bytes (outside the
    /// lock), waiting as `blocking` allows. `pid` is the caller, which does
    /// not count as a writer that could still put (it is busy getting).
    func get<R>(
        pid: Int32, blocking: Blocking, interrupted: () -> Bool, _ body: (UnsafeRawBufferPointer) -> R
    ) throws(QueueFailure) -> R {
        lock()
        var front = frontChunk()
        while front == nil {
            // Only a get that could wait forever ends with EOF; timed and
            // non-blocking gets raise Empty as in Python.
            let forever: Bool
            if case .forever = blocking { forever = true } else { forever = false }
            if forever && closed && !writersOverflowed && !writers.anyLiveWriter(except: pid) {
                unlock()
                throw .endOfFile
            }
            var slice = blocking.deadline
            if forever && closed { slice = Clock.now() + Self.writerPollInterval }
            let inTime: Bool
            if case .never = blocking { inTime = false } else { inTime = notEmpty.wait(self, deadline: slice) }
            front = frontChunk()
            if front == nil && !inTime, let deadline = blocking.deadline, Clock.now() >= deadline {
                unlock()
                throw .empty
            }
            if front == nil && interrupted() {
                unlock()
                throw .interrupted
            }
        }
        guard let h = front else { unlock(); throw .empty }
        count = max(0, count - 1)
        if h.dedicated {
            _ = popHead()
            let slot = inFlight.record(pid: pid, chunk: h.offset)
            let wake = notFull.signal()
            unlock()
            if wake { notFull.wake() }
            let frame = h.peek()
            let result = body(frame.message)
            let references = frame.referenceList
            lock()
            inFlight.clear(slot)
            recycle(h)
            unlock()
            letGo(references)
            return result
        }
        let frame = h.peek()
        let n = min(frame.message.count, QueueState.standardCapacity)
        let scratch = QueueScratch.take()
        defer { QueueScratch.giveBack(scratch) }
        if let p = frame.message.baseAddress, n > 0 { scratch.copyMemory(from: p, byteCount: n) }
        let references = frame.referenceList
        h.readPosition += frame.size
        if h.readPosition >= h.writePosition {
            if h.offset == tail {
                h.readPosition = 0
                h.writePosition = 0
            } else {
                recycle(popHead())
            }
        }
        let wake = notFull.signal()
        unlock()
        if wake { notFull.wake() }
        let result = body(UnsafeRawBufferPointer(start: scratch, count: n))
        letGo(references)
        return result
    }

    /// The queue takes a reference on each shared block a message names
    /// (its sender may exit before the message is got)...
    private func hold(_ references: [Int]) {
        guard !references.isEmpty, let allocator else { return }
        for r in references { allocator.retain(r) }
    }

    /// ...and drops it once the receiver decoded the message (and took its own).
    private func letGo(_ references: [Int]) {
        guard !references.isEmpty, let allocator else { return }
        for r in references { allocator.release(r) }
    }

    /// The head chunk when a message is ready (drained chunks are recycled
    /// on the way; a count that disagrees with the chunks is corrected).
    private func frontChunk() -> Chunk? {
        while head != 0 {
            let h = chunk(head)
            if h.readPosition < h.writePosition { return h }
            if h.offset == tail {
                h.readPosition = 0
                h.writePosition = 0
                break
            }
            recycle(popHead())
        }
        count = 0
        return nil
    }

    /// `close()` from process `pid`: it will put no more; readers re-check
    /// whether a writer is left.
    func close(pid: Int32) {
        lock()
        writers.close(pid: pid)
        closed = true
        notEmpty.wakeAll()
        unlock()
    }

    func withLock<R>(_ body: () -> R) -> R {
        lock()
        defer { unlock() }
        return body()
    }

    // MARK: JoinableQueue

    /// False when there was no unfinished task.
    func taskDone() -> Bool {
        lock()
        guard unfinished.pointee > 0 else {
            unlock()
            return false
        }
        unfinished.pointee -= 1
        let wake = unfinished.pointee == 0 && joinWaiters.pointee > 0
        unlock()
        if wake { Futex(unfinished).wakeAll() }
        return true
    }

    /// Waits until every message put has been marked done; false on timeout
    /// or when `interrupted()`.
    func join(deadline: Double?, interrupted: () -> Bool) -> Bool {
        lock()
        defer { unlock() }
        while unfinished.pointee > 0 {
            joinWaiters.pointee += 1
            let seen = unfinished.pointee
            unlock()
            let inTime = Futex(unfinished).wait(whileEqualTo: seen, deadline: deadline)
            lock()
            if joinWaiters.pointee > 0 { joinWaiters.pointee -= 1 }
            if (!inTime || interrupted()) && unfinished.pointee > 0 { return false }
        }
        return true
    }
}
