internal import CSystem
internal import Glibc

/// A 32-bit word in shared memory that processes wait on and wake each other
/// through (the word's owner is whatever shared object holds it).
///
/// Waits use the non-private futex operations, so they work across processes
/// even where the mapping sits at different addresses.
struct Futex {
    let word: UnsafeMutablePointer<UInt32>

    init(_ word: UnsafeMutablePointer<UInt32>) { self.word = word }

    @inline(__always) var value: UInt32 {
        get { forklift_load32(word) }
        nonmutating set { forklift_store32(word, newValue) }
    }

    /// Sleeps while the word still holds `expected`, at most until `deadline`
    /// (monotonic seconds; nil: no limit). Returns false only when the
    /// deadline passed; a wake-up, a changed word or a signal return true, so
    /// callers re-check their condition in a loop (as with every futex).
    /// The corresponding C call is `futex(FUTEX_WAIT)`.
    func wait(whileEqualTo expected: UInt32, deadline: Double?) -> Bool {
        if let deadline {
            let remaining = deadline - Clock.now()
            if remaining <= 0 { return false }
            var ts = timespec(remaining)
            let r = forklift_futex_wait(word, expected, &ts)
            if r == -1 && errno == ETIMEDOUT { return Clock.now() < deadline }
        } else {
            _ = forklift_futex_wait(word, expected, nil)
        }
        // EAGAIN (the word changed), EINTR (a signal: the caller's loop is
        // the retry) and a wake-up all mean "look again".
        return true
    }

    /// Wakes at most `count` waiters; returns how many were woken.
    /// The corresponding C call is `futex(FUTEX_WAKE)`.
    @discardableResult func wake(_ count: Int32 = 1) -> Int32 { forklift_futex_wake(word, count) }

    /// Wakes every waiter.
    @discardableResult func wakeAll() -> Int32 { wake(Int32.max) }
}

extension timespec {
    /// A relative or absolute time of `seconds` (non-negative).
    init(_ seconds: Double) {
        let s = min(max(0, seconds), 1e12)  // Int(seconds) must not overflow
        let whole = s.rounded(.down)
        self.init(tv_sec: Int(whole), tv_nsec: Int((s - whole) * 1e9))
    }
}
