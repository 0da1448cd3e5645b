internal import Glibc

/// A mutex for this process's own bookkeeping (not shared memory), for
/// embedders that run Lua states on several threads. It owns its memory and
/// lives as long as the process.
final class ProcessMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex. The corresponding C functions are
    /// `pthread_mutex_lock` and `pthread_mutex_unlock`.
    @inline(__always) func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// In a forked child: another thread of the parent may have held it at
    /// the fork; that thread does not exist here. The corresponding C function is `pthread_mutex_init`.
    func reinitializeAfterFork() { pthread_mutex_init(mutex, nil) }
}
