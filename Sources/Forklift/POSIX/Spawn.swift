internal import Glibc

/// Starting a fresh `forklift` process with `posix_spawn`: safe from a
/// multithreaded process (nothing runs between fork and exec but the C
/// library's own code), unlike `fork`.
enum Spawn {
    /// An embedding program that serves its own workers (`ForkliftHost.launch`)
    /// sets this to itself, so its workers have its Swift functions.
    nonisolated(unsafe) static var workerExecutable: String?

    /// True when workers started by exec are this program (see `workerExecutable`).
    static var servesOwnWorkers: Bool { workerExecutable != nil }

    /// Where the `forklift` executable is: `workerExecutable` when set, else `$FORKLIFT_EXECUTABLE`, else this
    /// very executable when it is `forklift`, else `forklift` beside it, else
    /// the first `forklift` on `$PATH`.
    static func forkliftExecutable() -> String? {
        if let own = workerExecutable { return own }
        if let env = getenv("FORKLIFT_EXECUTABLE") { return String(cString: env) }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, Int(PATH_MAX))
        if n > 0 {
            let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if path.hasSuffix("/forklift") { return path }
            if let slash = path.lastIndex(of: "/") {
                let sibling = String(path[..<slash]) + "/forklift"
                if access(sibling, X_OK) == 0 { return sibling }
            }
        }
        if let pathVariable = getenv("PATH") {
            for dir in String(cString: pathVariable).split(separator: ":") {
                let candidate = "\(dir)/forklift"
                if access(candidate, X_OK) == 0 { return candidate }
            }
        }
        return nil
    }

    struct ExecutableNotFound: Error, CustomStringConvertible {
        var description: String {
            "cannot find the forklift executable for the spawn/forkserver start methods: set FORKLIFT_EXECUTABLE "
                + "(a Swift program can serve its own workers: open its host with ForkliftHost.launch)"
        }
    }

    /// Starts `executable` with `arguments` (argv[1...]); `descriptors[i]`
    /// becomes descriptor `3 + i` in the child, every other descriptor of this
    /// process stays closed there (they are all close-on-exec). The
    /// corresponding C function is `posix_spawn`.
    static func start(executable: String, arguments: [String], descriptors: [Int32]) throws(SystemError) -> pid_t {
        // Move the sources out of the way first (>= 100), so mapping them onto
        // 3, 4, ... cannot clobber one that is still to be mapped.
        var temporaries: [Int32] = []
        defer { for t in temporaries { Glibc.close(t) } }
        for fd in descriptors {
            let t = fcntl(fd, F_DUPFD_CLOEXEC, 100)
            if t < 0 { throw SystemError("fcntl(F_DUPFD_CLOEXEC)") }
            temporaries.append(t)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (i, t) in temporaries.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, t, Int32(3 + i))
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal handling whatever we ignore.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // ...and with no signal blocked, whatever the spawning thread blocks
        // (a worker that cannot receive SIGTERM could never be terminated).
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = [executable] + arguments
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for p in cArguments { free(p) } }
        var pid: pid_t = 0
        fflush(nil)
        let r = posix_spawn(&pid, executable, &actions, &attributes, &cArguments, environ)
        if r != 0 { throw SystemError("posix_spawn \(executable)", errno: r) }
        return pid
    }
}
