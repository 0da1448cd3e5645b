/// How a pool starts its worker processes (Python's start methods; see
/// `mp.set_start_method`).
///
/// Leaving it unset (`PoolConfiguration.startMethod == nil`) lets the module
/// choose: the method set with `mp.set_start_method`, else `.fork` while the
/// process has a single thread and `.forkserver` once it has more.
public enum StartMethod: String, Sendable, CaseIterable {
    /// Fork the calling process: workers inherit everything, globals and
    /// registered Swift functions included, and start fastest. Only safe,
    /// and only allowed, in a process with a single thread.
    case fork
    /// A single-threaded server process, started by exec, forks the workers
    /// on request: safe in multithreaded programs. Functions cross through
    /// the codec; the globals they use come from the preload (`mp.set_preload`)
    /// and, in a program that hands its workers to `ForkliftWorker`, from its setup.
    case forkserver
    /// Every worker is a fresh exec: safe in multithreaded programs, slowest
    /// to start. What workers have is as for `.forkserver`.
    case spawn

    /// Refuses `.fork` from a process that has other threads, before
    /// anything is started (the module would refuse too, with a message only).
    func checkUsable() throws(ForkliftError) {
        guard self == .fork else { return }
        let threads = ProcessControl.threadCount()
        guard threads <= 1 else {
            throw ForkliftError(
                code: .forkInMultithreadedProcess,
                message: "cannot use the fork start method: this process has \(threads) threads, and forking "
                    + "a multithreaded process is unsafe (the child can deadlock on a lock another thread held); "
                    + "use .forkserver or .spawn, or leave the start method unset to get the fork server "
                    + "automatically")
        }
    }
}
