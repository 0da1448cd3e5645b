/// How a pool starts its worker processes (Python's start methods).
///
/// Only `.fork` is implemented in this build; the others are accepted by the
/// API so callers can name them, and are refused with
/// `ForkliftError.Code.startMethodUnavailable` until they land.
public enum StartMethod: String, Sendable, CaseIterable {
    /// Fork the calling process: workers inherit everything, globals and
    /// registered Swift functions included. Only safe, and only allowed, in a
    /// process with a single thread.
    case fork
    /// Ask a single-threaded helper process, started by exec, to fork the
    /// workers (safe in multithreaded programs). Not implemented yet.
    case forkserver
    /// Start each worker with a fresh exec. Not implemented yet.
    case spawn

    /// Refuses what cannot run here: an unimplemented method, or `.fork`
    /// from a process that has other threads.
    func checkUsable() throws(ForkliftError) {
        switch self {
        case .fork:
            let threads = ProcessControl.threadCount()
            guard threads <= 1 else {
                throw ForkliftError(
                    code: .forkInMultithreadedProcess,
                    message: "cannot use the fork start method: this process has \(threads) threads, and forking "
                        + "a multithreaded process is unsafe (the child can deadlock on a lock another thread held); "
                        + "create pools from a single-threaded program, before any thread or Swift task starts")
            }
        case .forkserver, .spawn:
            throw ForkliftError(
                code: .startMethodUnavailable,
                message: "the \(rawValue) start method is not available in this build of Forklift; use .fork "
                    + "from a single-threaded program")
        }
    }
}
