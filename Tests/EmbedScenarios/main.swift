// Scenarios for the end-to-end tests of the embedding API that fork: each
// runs in this fresh, single-threaded process (the `swift test` process has
// threads and must not fork). Usage: ForkliftEmbedScenarios <scenario>.
import Forklift
import Glibc

func line(_ items: Any...) {
    print(items.map { "\($0)" }.joined(separator: " "))
}

/// What every process of this program has: the host, and workers started by
/// fork (inherited) or by exec (`ForkliftHost.launch` runs it there).
func setup(_ host: ForkliftHost) throws {
    host.register("swift_square") { (x: Int) in x * x }
    host.register("swift_pid") { () in Int(getpid()) }
    host.register("swift_executable") { () in
        String((ForkliftHostPath.executable() ?? "?").split(separator: "/").last ?? "?")
    }
}

enum ForkliftHostPath {
    static func executable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4097)
        let n = readlink("/proc/self/exe", &buffer, 4096)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Workers inherit registered Swift closures; map by global name, source and value.
func mapKinds(_ host: ForkliftHost) throws {
    try host.run("function via_global(x) return swift_square(x) + 1 end")
    let pool = try host.makePool(PoolConfiguration(processes: 2))
    let a: [Int] = try pool.map(.global("via_global"), over: Array(1...6))
    let b: [Int] = try pool.map(.global("swift_square"), over: [7, 8])
    let c: [String] = try pool.map(.source("function(s) return s:upper() .. swift_square(#s) end"), over: ["ab", "xyz"])
    let f = try host.compile("local k = 100; return function(x) return k + x end")
    let d: [Double] = try pool.map(.function(f), over: [0.5, 1.5], chunksize: 1)
    let pids: [Int] = try pool.map(.source("function() return swift_pid() end"), over: Array(repeating: 0, count: 8), chunksize: 1)
    let e: [Int?] = try pool.map(.source("function(x) if x % 2 == 0 then return x end end"), over: [1, 2, 3, 4])
    try pool.close()
    line("global", a)
    line("swift", b)
    line("source", c)
    line("value", d)
    line("optional", e.map { $0.map(String.init) ?? "nil" })
    line("pids-not-host", !pids.contains(Int(getpid())), Set(pids).count >= 1)
}

/// A task that raises: typed error with the worker's traceback; the pool stays usable.
func remoteError(_ host: ForkliftHost) throws {
    try host.run("""
        local function check(x)
          if x == 3 then error("three is not allowed") end
          return x
        end
        function validate(x) return check(x) * 10 end
        """, chunkName: "@validate.lua")
    let pool = try host.makePool(PoolConfiguration(processes: 2))
    do {
        let _: [Int] = try pool.map(.global("validate"), over: [1, 2, 3, 4], chunksize: 1)
        line("no error")
    } catch {
        line("code", error.code)
        line("index", error.taskIndex ?? -1)
        line("message", error.message)
        line("value", error.value ?? .nil)
        // The worker's traceback: where the task raised, not where the host waited.
        line("traceback-has-check", error.traceback?.contains("validate.lua:2: in upvalue 'check'") == true)
        line("traceback-has-validate", error.traceback?.contains("validate.lua:5:") == true)
    }
    let after: [Int] = try pool.map(.global("validate"), over: [5])
    line("after", after)
    do {
        let _: [Int] = try pool.map(.source("function(x) return 'text' end"), over: [1, 2])
    } catch {
        line("conversion", error.code, error.taskIndex ?? -1, error.message)
    }
    do {
        let _: [Int] = try pool.map(.source("local co = coroutine.create(print); return function(x) return co end"), over: [1])
    } catch {
        line("not-sendable", error.code)
    }
    do {
        let _: [Int] = try pool.map(.source("function(x) return x +"), over: [1])
    } catch {
        line("bad-source", error.code, error.message.hasPrefix("cannot compile the function source"))
    }
    do {
        let _: [Int] = try pool.map(.global("no_such_global"), over: [1])
    } catch {
        line("no-global", error.code, error.message)
    }
    try pool.close()
    do {
        let _: [Int] = try pool.map(.global("validate"), over: [1])
    } catch {
        line("closed", error.code)
    }
}

/// Streaming results, in order and as they finish, and a submitted map.
func streaming(_ host: ForkliftHost) throws {
    let pool = try host.makePool(PoolConfiguration(processes: 2))
    var ordered = try pool.imap(.source("function(x) mp.sleep(0.01 * (5 - x)); return x * 2 end"), over: [1, 2, 3, 4], as: Int.self, chunksize: 1)
    var got: [String] = []
    while let (i, v) = try ordered.next() { got.append("\(i):\(v)") }
    line("imap", got)
    var unordered = try pool.imap(.source("function(x) return -x end"), over: Array(1...10), as: Int.self, ordered: false)
    var seen: [Int: Int] = [:]
    while let (i, v) = try unordered.next() { seen[i] = v }
    line("imap_unordered", seen.count, seen.keys.sorted() == Array(0..<10), seen.allSatisfy { $0.value == -($0.key + 1) })
    var failing = try pool.imap(.source("function(x) if x == 2 then error('bad two', 0) end return x end"), over: [1, 2, 3], as: Int.self, chunksize: 1)
    do {
        while let (i, v) = try failing.next() { line("item", i, v) }
    } catch {
        line("imap-error", error.code, error.taskIndex ?? -1, error.message)
    }
    let pending = try pool.mapAsync(.source("function(x) mp.sleep(0.3); return x end"), over: [1, 2], as: Int.self, chunksize: 1)
    line("ready-at-once", try pending.wait(timeout: 0))
    line("ready-later", try pending.wait())
    line("async", try pending.get())
    try pool.close()
}

/// A worker has to be replaced after a thread appeared: a forced fork is
/// refused with the typed code; an unset start method moves to the fork server.
func threadAppears(_ host: ForkliftHost) throws {
    let forced = try host.makePool(PoolConfiguration(processes: 1, startMethod: .fork, maxTasksPerChild: 1))
    let automatic = try host.makePool(PoolConfiguration(processes: 1, maxTasksPerChild: 1))
    let identity = LuaCallable.source("function(x) return x end")
    let first: [Int] = try forced.map(identity, over: [1])
    line("before-thread", first, forced.startMethod, automatic.startMethod)
    var thread = pthread_t()
    let started = pthread_create(&thread, nil, { _ in sleep(5); return nil }, nil)
    line("thread-started", started == 0)
    do {
        let _: [Int] = try forced.map(identity, over: [2, 3], chunksize: 1)
        line("no error")
    } catch {
        line("forced-after-thread", error.code)
    }
    let moved: [Int] = try automatic.map(identity, over: [2, 3, 4], chunksize: 1)
    line("automatic-after-thread", moved, automatic.startMethod)
    do {
        _ = try host.makePool(PoolConfiguration(processes: 1, startMethod: .fork))
    } catch {
        line("new-forced-pool", error.code)
    }
    let fresh = try host.makePool(PoolConfiguration(processes: 1))
    line("new-automatic-pool", fresh.startMethod)
    forced.terminate()
    try automatic.close()
    try fresh.close()
}

/// Swift functions are callable in workers started by exec too, because
/// those workers are this executable, set up by `ForkliftHost.launch`.
func execMethods(_ host: ForkliftHost) throws {
    for method in [StartMethod.spawn, .forkserver] {
        let pool = try host.makePool(PoolConfiguration(processes: 2, startMethod: method))
        let out: [String] = try pool.map(
            .source("function(x) return swift_executable() .. ':' .. swift_square(x) end"), over: [2, 3])
        let pids: [Int] = try pool.map(.global("swift_pid"), over: Array(repeating: 0, count: 4), chunksize: 1)
        line(method, pool.startMethod, out, !pids.contains(Int(getpid())))
        try pool.close()
    }
}

/// A multithreaded program (busy threads and Swift tasks) maps 100 times in
/// a row: the pool uses the fork server by itself, and nothing deadlocks.
func threadedMaps(_ host: ForkliftHost) throws {
    // The threads run until the process exits.
    var threads: [pthread_t] = []
    for _ in 0..<2 {
        var t = pthread_t()
        pthread_create(&t, nil, { _ in
            var x: UInt64 = 1
            // Busy, but yielding now and then so the 2 CPUs are shared with the workers.
            for i in 0..<2_000_000_000 {
                x = x &* 6364136223846793005 &+ 1
                if i % 100_000 == 0 { usleep(200) }
                if x == 0 { print(x) }
            }
            return nil
        }, nil)
        threads.append(t)
    }
    let tasks = (0..<2).map { _ in
        Task.detached {
            var n = 0
            while !Task.isCancelled {
                n &+= 1
                if n % 100_000 == 0 { try? await Task.sleep(nanoseconds: 200_000) }
            }
            return n
        }
    }
    let pool = try host.makePool(PoolConfiguration(processes: 2))
    let inputs = Array(1...50)
    var good = 0
    for round in 0..<100 {
        let out: [Int] = try pool.map(.source("function(x) return swift_square(x) + \(round) end"), over: inputs)
        if out == inputs.map({ $0 * $0 + round }) { good += 1 }
    }
    line("threads-running", threadCount() > 1)
    line("maps", good, "of 100 correct with", pool.startMethod)
    try pool.close()
    for t in tasks { t.cancel() }
}

func threadCount() -> Int {
    guard let dir = opendir("/proc/self/task") else { return 0 }
    defer { closedir(dir) }
    var n = 0
    while let e = readdir(dir) { if e.pointee.d_name.0 != 46 { n += 1 } }
    return n
}

/// The pool is started from a thread that then ends (as Dispatch and Swift
/// concurrency retire idle threads): its workers must survive the thread.
func poolOutlivesItsThread(_ host: ForkliftHost) throws {
    final class Box: @unchecked Sendable { var pool: ForkliftPool?; var error: (any Error)?; let host: ForkliftHost; init(_ h: ForkliftHost) { host = h } }
    let box = Box(host)
    var thread = pthread_t()
    let raw = Unmanaged.passRetained(box).toOpaque()
    pthread_create(&thread, nil, { arg in
        guard let arg else { return nil }
        let box = Unmanaged<Box>.fromOpaque(arg).takeRetainedValue()
        do { box.pool = try box.host.makePool(PoolConfiguration(processes: 2, startMethod: .forkserver)) } catch { box.error = error }
        return nil
    }, raw)
    pthread_join(thread, nil)
    usleep(200_000)
    guard let pool = box.pool else { line("no pool", box.error.map { "\($0)" } ?? "?"); return }
    let out: [Int] = try pool.map(.source("function(x) return x + 1 end"), over: [1, 2, 3, 4], chunksize: 1)
    line("after-thread-ended", out)
    try pool.close()
}

/// A multithreaded host dies abruptly: its fork server and workers (not
/// its children) must end too, by the EOF of their pipes.
func parentDies(_ host: ForkliftHost) throws {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in while true { sleep(1) } }, nil)
    let pool = try host.makePool(PoolConfiguration(processes: 2))
    let pids: [Int] = try pool.map(.global("swift_pid"), over: [0, 0, 0, 0], chunksize: 1)
    line("method", pool.startMethod)
    line("host", getpid())
    line("workers", Set(pids).sorted().map(String.init).joined(separator: " "))
    fflush(nil)
    kill(getpid(), SIGKILL)
}

let scenarios: [String: (ForkliftHost) throws -> Void] = [
    "parent-dies": parentDies,
    "pool-outlives-thread": poolOutlivesItsThread,
    "map-kinds": mapKinds, "remote-error": remoteError, "streaming": streaming, "thread-appears": threadAppears,
    "exec-methods": execMethods, "threaded-maps": threadedMaps,
]

// First thing: a worker started by exec serves its work here and exits.
let host: ForkliftHost
do {
    host = try ForkliftHost.launch(setup: setup)
} catch {
    print("launch failed: \(error)")
    exit(1)
}
let name = CommandLine.arguments.dropFirst().first ?? ""
guard let scenario = scenarios[name] else {
    print("usage: ForkliftEmbedScenarios \(scenarios.keys.sorted().joined(separator: "|"))")
    exit(2)
}
do {
    try scenario(host)
    host.close()
} catch {
    print("uncaught: \(error)")
    exit(1)
}
