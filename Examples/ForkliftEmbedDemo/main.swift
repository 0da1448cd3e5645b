// ForkliftEmbedDemo: a Swift tool that embeds Forklift and maps a Lua
// function over Swift values in worker processes.
//
// It stays single-threaded (a plain synchronous main: no Task, no Dispatch,
// no Foundation) because the only start method available today is `.fork`,
// and forking a multithreaded process is refused. Usage:
//   ForkliftEmbedDemo [--workers N] [line ...]
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

func main() throws {
    var arguments = Array(CommandLine.arguments.dropFirst())
    var workers = 2
    if arguments.first == "--workers", arguments.count >= 2, let n = Int(arguments[1]) {
        workers = n
        arguments.removeFirst(2)
    }
    let lines = arguments.isEmpty
        ? ["the quick brown fox", "jumps over the lazy dog", "Forklift maps Lua over processes", "", "swift and lua"]
        : arguments

    let host = try ForkliftHost()
    defer { host.close() }
    // Registered before the pool forks, so every worker has it too.
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

    let jobs = lines.enumerated().map { Job(id: $0.offset + 1, text: $0.element) }
    let encoder = LuaValueEncoder(), decoder = LuaValueDecoder()
    let inputs = try jobs.map { try encoder.encode($0) }

    let pool = try host.makePool(PoolConfiguration(processes: workers, startMethod: .fork))
    let results = try pool.map(.global("analyse"), over: inputs, as: LuaValue.self)
    try pool.close()

    let reports = try results.map { try decoder.decode(Report.self, from: $0) }
    let pids = Set(reports.map(\.pid))
    let hostPid = try host.evaluate("mp.current_process().pid", as: Int.self)
    for (job, report) in zip(jobs, reports) {
        let ok = report.checksum == checksum(job.text) ? "ok" : "MISMATCH"
        print("\(report.id)\t\(report.words) words\tlongest=\(report.longest ?? "-")\tchecksum \(ok)\t\"\(job.text)\"")
    }
    let where_ = pids.contains(hostPid) ? "in the host process (unexpected)" : "in \(pids.count) worker process(es)"
    print("\(reports.count) lines analysed \(where_)")
}

do {
    try main()
} catch {
    print("ForkliftEmbedDemo: \(error)")
    exit(1)
}
