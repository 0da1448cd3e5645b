internal import CSystem
internal import Glibc

/// A process-shared, robust pthread mutex living in shared memory (the
/// memory is owned by the shared object that contains it).
///
/// Robust: when a process dies holding it, the kernel marks it and the next
/// locker gets it with `previousOwnerDied` (after which it is consistent
/// again, so a dead holder never leaves it locked forever).
struct RobustMutex {
    let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init(_ mutex: UnsafeMutablePointer<pthread_mutex_t>) { self.mutex = mutex }

    /// Initialises fresh memory as a robust process-shared mutex.
    /// The corresponding C function is `pthread_mutex_init`.
    func initialize() throws(SystemError) {
        var attr = pthread_mutexattr_t()
        pthread_mutexattr_init(&attr)
        defer { pthread_mutexattr_destroy(&attr) }
        pthread_mutexattr_setpshared(&attr, Int32(PTHREAD_PROCESS_SHARED))
        pthread_mutexattr_setrobust(&attr, Int32(PTHREAD_MUTEX_ROBUST))
        // Error-checking: relocking by the holder reports EDEADLK instead of hanging.
        pthread_mutexattr_settype(&attr, Int32(PTHREAD_MUTEX_ERRORCHECK))
        let r = pthread_mutex_init(mutex, &attr)
        if r != 0 { throw SystemError("pthread_mutex_init", errno: r) }
    }

    enum Outcome {
        case acquired
        /// Acquired, but the previous holder died holding it: what it guarded
        /// may be half-updated.
        case previousOwnerDied
        case timedOut
        /// Already held by this thread (a plain mutex would deadlock).
        case wouldDeadlock
    }

    /// Locks, waiting at most until `deadline` (monotonic seconds; nil: forever).
    /// The corresponding C functions are `pthread_mutex_lock` and `pthread_mutex_clocklock`.
    func lock(deadline: Double? = nil) -> Outcome {
        let r: Int32
        if let deadline {
            var ts = timespec(deadline)
            r = forklift_mutex_lock_until(mutex, &ts)
        } else {
            r = pthread_mutex_lock(mutex)
        }
        return outcome(r)
    }

    /// Locks if free now. The corresponding C function is `pthread_mutex_trylock`.
    func tryLock() -> Outcome {
        let r = pthread_mutex_trylock(mutex)
        return r == EBUSY ? .timedOut : outcome(r)
    }

    private func outcome(_ r: Int32) -> Outcome {
        switch r {
        case 0: return .acquired
        case EOWNERDEAD:
            pthread_mutex_consistent(mutex)
            return .previousOwnerDied
        case EDEADLK: return .wouldDeadlock
        default: return .timedOut  // ETIMEDOUT (or EBUSY from trylock)
        }
    }

    /// Unlocks; false when this thread does not hold it.
    /// The corresponding C function is `pthread_mutex_unlock`.
    @discardableResult func unlock() -> Bool { pthread_mutex_unlock(mutex) == 0 }
}
