internal import CSystem
internal import Glibc

/// A counting semaphore on a futex word in shared memory (12 bytes: value,
/// sleeping waiters, maximum, `UInt32.max` when unbounded).
///
/// It has no owner, like POSIX and Python semaphores: a dead holder's units
/// are never given back. A waiter killed while sleeping only leaves the
/// waiter count too high, which costs a spare wake-up, nothing else.
struct SharedSemaphore {
    let state: UnsafeMutableRawPointer

    static let payloadBytes = 12

    private var valueWord: UnsafeMutablePointer<UInt32> { state.assumingMemoryBound(to: UInt32.self) }
    private var waitersWord: UnsafeMutablePointer<UInt32> { (state + 4).assumingMemoryBound(to: UInt32.self) }
    private var maximumWord: UnsafeMutablePointer<UInt32> { (state + 8).assumingMemoryBound(to: UInt32.self) }

    func initialize(value: UInt32, maximum: UInt32?) {
        forklift_store32(valueWord, value)
        forklift_store32(maximumWord, maximum ?? UInt32.max)
    }

    var value: UInt32 { forklift_load32(valueWord) }
    var maximum: UInt32? {
        let m = forklift_load32(maximumWord)
        return m == UInt32.max ? nil : m
    }

    /// Takes a unit if one is free now.
    @inline(__always) func tryTake() -> Bool {
        var seen = forklift_load32(valueWord)
        while seen > 0 {
            if forklift_cas32(valueWord, &seen, seen - 1) { return true }
        }
        return false
    }

    /// Takes a unit, waiting until `deadline` (nil: forever) unless not
    /// `blocking`; gives up (false) when `interrupted()` says so after a signal.
    func acquire(blocking: Bool = true, deadline: Double? = nil, interrupted: () -> Bool = { false }) -> Bool {
        if tryTake() { return true }
        guard blocking else { return false }
        let futex = Futex(valueWord)
        while true {
            forklift_fetch_add32(waitersWord, 1)
            let inTime = futex.wait(whileEqualTo: 0, deadline: deadline)
            forklift_fetch_sub32(waitersWord, 1)
            if tryTake() { return true }
            if !inTime || interrupted() { return false }
        }
    }

    /// Gives back `n` units; false (and nothing given) when a bounded
    /// semaphore would go above its maximum.
    func release(_ n: UInt32 = 1) -> Bool {
        var seen = forklift_load32(valueWord)
        let maximum = forklift_load32(maximumWord)
        while true {
            let (new, overflow) = seen.addingReportingOverflow(n)
            if overflow || new > maximum { return false }
            if forklift_cas32(valueWord, &seen, new) { break }
        }
        if forklift_load32(waitersWord) > 0 { Futex(valueWord).wake(Int32(clamping: n)) }
        return true
    }
}

/// An event flag on a futex word (4 bytes). Waiters sleep on the word itself,
/// so nothing counts them and a dead waiter leaves no trace.
struct SharedEvent {
    let state: UnsafeMutableRawPointer

    static let payloadBytes = 4

    private var futex: Futex { Futex(state.assumingMemoryBound(to: UInt32.self)) }

    var isSet: Bool { futex.value != 0 }

    func set() {
        futex.value = 1
        futex.wakeAll()
    }

    func clear() { futex.value = 0 }

    /// Waits until set, `deadline` (nil: forever) or `interrupted()`; returns whether it is set.
    func wait(deadline: Double?, interrupted: () -> Bool = { false }) -> Bool {
        while futex.value == 0 {
            if !futex.wait(whileEqualTo: 0, deadline: deadline) || interrupted() { return futex.value != 0 }
        }
        return true
    }
}

/// A condition variable's own state (after the 8-byte offset of its lock):
/// how many registered waiters no notification is meant for yet, and a
/// semaphore of notifications ("tokens") the waiters sleep on.
///
/// Invariant, under the condition's lock: tokens + waiters = sleepers that
/// have neither taken a token nor given up. `notify(n)` turns up to n
/// waiters into tokens; a sleeper that times out takes a token if one is
/// left (it was notified after all) or else removes itself from `waiters`.
/// A sleeper killed while sleeping stays counted: a later notification may
/// be spent on it, which shows as a spurious wake-up of another waiter at
/// worst, never as a waiter that can no longer be woken.
struct SharedConditionState {
    let state: UnsafeMutableRawPointer

    static let payloadBytes = 8 + 4 + SharedSemaphore.payloadBytes

    var lockOffset: Int { Int(state.load(as: UInt64.self)) }
    private var waitersWord: UnsafeMutablePointer<UInt32> { (state + 8).assumingMemoryBound(to: UInt32.self) }
    private var tokens: SharedSemaphore { SharedSemaphore(state: state + 12) }

    func initialize(lockOffset: Int) {
        state.storeBytes(of: UInt64(lockOffset), as: UInt64.self)
        tokens.initialize(value: 0, maximum: nil)
    }

    /// `wait`: the caller holds the lock `lock` (checked by the binding).
    func wait(lock: SharedLock, deadline: Double?, interrupted: () -> Bool = { false })
        -> (notified: Bool, relock: SharedLock.Acquired)
    {
        forklift_fetch_add32(waitersWord, 1)
        let levels = lock.releaseAll()
        var notified = tokens.acquire(deadline: deadline, interrupted: interrupted)
        let relock = lock.reacquire(levels: levels, interrupted: interrupted)
        if !notified {
            if tokens.tryTake() {
                notified = true
            } else {
                forklift_fetch_sub32(waitersWord, 1)
            }
        }
        return (notified, relock)
    }

    /// `notify(n)`: the caller holds the lock. Returns how many it woke.
    @discardableResult func notify(_ n: UInt32) -> UInt32 {
        let waiting = forklift_load32(waitersWord)
        let k = min(n, waiting)
        guard k > 0 else { return 0 }
        forklift_fetch_sub32(waitersWord, k)
        _ = tokens.release(k)
        return k
    }

    var waiting: UInt32 { forklift_load32(waitersWord) }
}
