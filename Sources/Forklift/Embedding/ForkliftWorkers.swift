internal import Glibc

extension ForkliftHost {
    /// Opens Forklift in a program that serves as its own worker executable,
    /// so that workers started by `.spawn` and `.forkserver` have the same
    /// Swift functions and Lua globals as the host (under `.fork` they are
    /// inherited anyway). Call it first thing in `main`, before any other work:
    ///
    /// ```swift
    /// let host = try ForkliftHost.launch { host in
    ///     host.register("checksum") { (s: String) in fnv1a(s) }
    ///     try host.run("function analyse(job) return checksum(job.text) end")
    /// }
    /// ```
    /// When this process was started as a worker (its arguments begin with
    /// `SpawnedProcess.flag`), it runs `setup` on the worker's state, serves
    /// the work it was started for and exits: `launch` does not return.
    /// Otherwise it opens a host, runs `setup` on it, and makes this
    /// executable the one `.spawn` and the fork server start.
    ///
    /// `setup` must do the same in every process (register functions, define
    /// globals): it must not depend on state only the host has.
    /// - Throws: what `setup` throws in the host, or `LuaError` when the state
    ///   cannot be created.
    public static func launch(
        options: ForkliftOptions = ForkliftOptions(), setup: @escaping (ForkliftHost) throws -> Void
    ) throws -> ForkliftHost {
        let arguments = CommandLine.arguments
        if SpawnedProcess.isRequested(arguments) {
            let status = SpawnedProcess.main(arguments) { state in try setup(ForkliftHost(adopting: state)) }
            fflush(nil)
            exit(status)
        }
        let host = try ForkliftHost(options: options)
        try setup(host)
        if let path = ownExecutable() { Spawn.workerExecutable = path }
        return host
    }

    /// This process's executable, from `/proc/self/exe`.
    static func ownExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
