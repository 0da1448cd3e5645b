// ForkliftEmbedDemo: a Swift tool that embeds Forklift and maps a Lua
// function (which calls back into Swift) over Swift values in worker processes.
//
//   ForkliftEmbedDemo [--workers N] [--start-method fork|forkserver|spawn] [--threads] [line ...]
//
// `--threads` makes the program multithreaded first (Swift tasks and a
// thread keep running while it maps), as a server or a Swift-concurrency
// tool is: the pool then starts its workers through the fork server instead
// of forking this process. Forcing `--start-method fork` together with
// `--threads` shows the refusal.
import Forklift
import Glibc

/// What the Swift side sends: one line of text to analyse.
struct Job: Codable {
    var id: Int
    var text: String
}

/// What a worker sends back.
struct Report: Codable {
    var id: Int
    var words: Int
    var longest: String?
    var checksum: Int
    var pid: Int
}

/// FNV-1a over the UTF-8 bytes: a Swift function the Lua workers call.
func checksum(_ text: String) -> Int {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        h ^= UInt64(byte)
        h = h &* 0x100_0000_01b3
    }
    return Int(truncatingIfNeeded: h >> 1)
}

/// Runs in the host and in every worker: workers started by fork inherit it,
/// workers started by exec are this executable and run it in `launch`.
func setup(_ host: ForkliftHost) throws {
    host.register("swift_checksum") { (text: String) in checksum(text) }
    try host.run("""
        function analyse(job)
          local words, longest = 0, nil
          for w in job.text:gmatch("%S+") do
            words = words + 1
            if longest == nil or #w > #longest then longest = w end
          end
          return { id = job.id, words = words, longest = longest,
                   checksum = swift_checksum(job.text), pid = mp.current_process().pid }
        end
        """)
}

/// Keeps two Swift tasks and a thread busy in the background.
func startBackgroundWork() {
    for _ in 0..<2 {
        Task.detached {
            var n = 0
            while !Task.isCancelled {
                n &+= 1
                if n % 100_000 == 0 { try? await Task.sleep(nanoseconds: 500_000) }
            }
        }
    }
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        while true { usleep(1000) }
    }, nil)
    while threadCount() < 2 { usleep(1000) }
}

func threadCount() -> Int {
    guard let dir = opendir("/proc/self/task") else { return 0 }
    defer { closedir(dir) }
    var n = 0
    while let e = readdir(dir) { if e.pointee.d_name.0 != 46 { n += 1 } }
    return n
}

func main() throws {
    // First thing: when this process is a worker started by exec, it works and exits here.
    let host = try ForkliftHost.launch(setup: setup)
    defer { host.close() }

    var arguments = Array(CommandLine.arguments.dropFirst())
    var workers = 2
    var method: StartMethod?
    var threaded = false
    while let option = arguments.first, option.hasPrefix("--") {
        arguments.removeFirst()
        switch option {
        case "--workers": workers = Int(arguments.removeFirst()) ?? workers
        case "--start-method": method = StartMethod(rawValue: arguments.removeFirst())
        case "--threads": threaded = true
        default: break
        }
    }
    let lines = arguments.isEmpty
        ? ["the quick brown fox", "jumps over the lazy dog", "Forklift maps Lua over processes", "", "swift and lua"]
        : arguments
    if threaded { startBackgroundWork() }

    let jobs = lines.enumerated().map { Job(id: $0.offset + 1, text: $0.element) }
    let pool = try host.makePool(PoolConfiguration(processes: workers, startMethod: method))
    // Each Job crosses as a Lua table; each result table comes back as a Report.
    let reports = try pool.map(.global("analyse"), encoding: jobs, decoding: Report.self)
    let started = pool.startMethod
    try pool.close()

    for (job, report) in zip(jobs, reports) {
        let ok = report.checksum == checksum(job.text) ? "ok" : "MISMATCH"
        print("\(report.id)\t\(report.words) words\tlongest=\(report.longest ?? "-")\tchecksum \(ok)\t\"\(job.text)\"")
    }
    let pids = Set(reports.map(\.pid))
    let place = pids.contains(Int(getpid())) ? "in the host process (unexpected)" : "in \(pids.count) worker process(es)"
    print("\(reports.count) lines analysed \(place) started by \(started)")
}

do {
    try main()
} catch {
    print("ForkliftEmbedDemo: \(error)")
    exit(1)
}
