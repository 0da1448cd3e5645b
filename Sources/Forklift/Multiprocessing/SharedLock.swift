internal import CSystem
internal import Glibc

/// The state of a `Lock` or `RLock` in shared memory (48 bytes, the payload
/// of a 64-byte block): a robust mutex, the owning thread and the recursion
/// depth.
///
/// The owner is a kernel thread id, unique among live threads of the whole
/// system, so "is it mine?" is one load and one compare: that makes
/// re-entering an `RLock` (and `Value` access inside `get_lock():with`) cheap.
struct SharedLock {
    let state: UnsafeMutableRawPointer

    init(_ state: UnsafeMutableRawPointer) { self.state = state }

    static let payloadBytes = 48
    private static let ownerOffset = 40
    private static let depthOffset = 44

    var mutex: RobustMutex { RobustMutex(state.assumingMemoryBound(to: pthread_mutex_t.self)) }
    private var ownerWord: UnsafeMutablePointer<UInt32> {
        (state + Self.ownerOffset).assumingMemoryBound(to: UInt32.self)
    }
    private var depthWord: UnsafeMutablePointer<UInt32> {
        (state + Self.depthOffset).assumingMemoryBound(to: UInt32.self)
    }

    func initialize() throws(SystemError) { try mutex.initialize() }

    @inline(__always) static var me: UInt32 { UInt32(bitPattern: forklift_thread_id()) }

    /// The thread holding it (0: none known).
    @inline(__always) var owner: UInt32 { forklift_load32(ownerWord) }
    @inline(__always) var isMine: Bool { owner == Self.me }
    /// Recursion depth (only meaningful to its owner).
    var depth: UInt32 {
        get { depthWord.pointee }
        nonmutating set { depthWord.pointee = newValue }
    }

    enum Acquired: Equatable {
        case acquired
        /// Acquired; the previous holder (this thread id) died holding it.
        case recoveredFrom(UInt32)
        case failed
        /// A non-recursive lock already held by this thread, asked to wait forever.
        case deadlock
        /// `interrupted()` said to stop waiting (Ctrl-C).
        case interrupted
    }

    /// How long one mutex wait lasts before `interrupted` is asked again: a
    /// signal does not end a mutex wait, so Ctrl-C is noticed within this.
    static let waitSlice = 0.2

    /// Tries before sleeping on a busy lock.
    static let spinLimit = 100

    /// Acquires; `recursive` re-enters when already held by this thread.
    /// `blocking` false: try once; else wait until `deadline` (nil: forever)
    /// or until `interrupted()` returns true.
    @inline(__always)
    func acquire(
        recursive: Bool, blocking: Bool = true, deadline: Double? = nil, interrupted: () -> Bool = { false }
    ) -> Acquired {
        // Try the mutex first: its compare-and-swap takes the cache line
        // exclusively, so the owner and depth written next cost nothing more
        // (reading the owner first would fetch the line twice when contended).
        // The error-checking mutex reports a holder that tries again.
        var outcome = mutex.tryLock()
        if outcome == .wouldDeadlock {
            if recursive {
                depthWord.pointee &+= 1
                return .acquired
            }
            if !blocking { return .failed }
            guard let deadline else { return .deadlock }
            Clock.sleep(deadline - Clock.now())
            return .failed
        }
        if blocking && outcome == .timedOut {
            // Locks here are held for a few hundred nanoseconds: a short spin
            // usually gets the lock without the futex sleep and wake-up pair.
            var spins = 0
            while outcome == .timedOut && spins < Self.spinLimit {
                forklift_cpu_relax()
                outcome = mutex.tryLock()
                spins += 1
            }
        }
        if blocking && outcome == .timedOut {
            while true {
                let now = Clock.now()
                if let deadline, now >= deadline { break }
                outcome = mutex.lock(deadline: min(deadline ?? .infinity, now + Self.waitSlice))
                if outcome != .timedOut { break }
                if interrupted() { return .interrupted }
            }
        }
        switch outcome {
        case .acquired:
            take(Self.me)
            return .acquired
        case .previousOwnerDied:
            let previous = forklift_load32(ownerWord)  // the dead holder's, not yet overwritten
            take(Self.me)
            return .recoveredFrom(previous)
        case .timedOut, .wouldDeadlock:
            return .failed
        }
    }

    @inline(__always) private func take(_ me: UInt32) {
        depthWord.pointee = 1
        forklift_store32(ownerWord, me)
    }

    enum Released { case released, notOwner, notLocked }

    /// Releases one level (a non-recursive lock: entirely).
    @inline(__always) func release() -> Released {
        let owner = forklift_load32(ownerWord)
        guard owner == Self.me else { return owner == 0 ? .notLocked : .notOwner }
        if depthWord.pointee > 1 {
            depthWord.pointee -= 1
            return .released
        }
        depthWord.pointee = 0
        forklift_store32(ownerWord, 0)
        mutex.unlock()
        return .released
    }

    /// Releases every level and returns how many there were (for `Condition.wait`).
    func releaseAll() -> UInt32 {
        let levels = depthWord.pointee
        depthWord.pointee = 0
        forklift_store32(ownerWord, 0)
        mutex.unlock()
        return levels
    }

    /// Re-acquires after `releaseAll`, restoring the depth.
    func reacquire(levels: UInt32, interrupted: () -> Bool) -> Acquired {
        let result = acquire(recursive: true, interrupted: interrupted)
        if result != .interrupted { depthWord.pointee = levels }
        return result
    }

    /// Whether some thread holds it (a holder that died does not count).
    var isLocked: Bool {
        if isMine { return true }
        switch mutex.tryLock() {
        case .acquired, .previousOwnerDied:
            forklift_store32(ownerWord, 0)
            mutex.unlock()
            return false
        case .timedOut, .wouldDeadlock:
            return true
        }
    }
}
