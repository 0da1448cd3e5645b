import Foundation
import Testing

/// Runs the built `forklift` executable as a user would and captures what it did.
///
/// The test process itself is multithreaded, so everything that forks is
/// exercised in a fresh `forklift` process.
struct ForkliftRun {
    var stdout: String
    var stderr: String
    var status: Int32
    /// True when the process was killed by a signal (then `status` is the signal).
    var signaled: Bool
}

enum Forklift {
    /// The package root, found from this file's path.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The executable under test: `$FORKLIFT_BIN`, else `.build/debug/forklift`.
    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["FORKLIFT_BIN"] { return path }
        return packageRoot.appendingPathComponent(".build/debug/forklift").path
    }

    /// Writing to a program that has exited must fail with EPIPE, not kill the tests.
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// A fresh temporary directory for one test's files.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("forklift-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Writes `source` to a temporary `.lua` file and returns its path.
    static func script(_ source: String, name: String = "script.lua") throws -> String {
        let url = try temporaryDirectory().appendingPathComponent(name)
        try source.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Runs `forklift` (or another `executable`, such as `lua5.4` to compare
    /// with) with `arguments`, feeding `stdin`, and waits at most `timeout`
    /// seconds (then kills it and records the test as failed).
    @discardableResult
    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
        timeout: Double = 60, executable: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ForkliftRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable ?? Self.executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LUA_INIT"] = nil
        env["LUA_INIT_5_4"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let outPipe = Pipe(), errPipe = Pipe(), inPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = inPipe
        _ = ignoreBrokenPipes
        try process.run()
        // The program may exit without reading all of it: that is its business.
        if let stdin { try? inPipe.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
        try? inPipe.fileHandleForWriting.close()
        // Drain both pipes while the process runs, so a large output cannot block it.
        nonisolated(unsafe) var out = Data(), err = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            out = outPipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        group.enter()
        DispatchQueue.global().async {
            err = errPipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(2000) }
        if process.isRunning {
            kill(-process.processIdentifier, SIGKILL)
            process.terminate()
            Issue.record("forklift \(arguments) did not finish within \(timeout) s", sourceLocation: sourceLocation)
        }
        process.waitUntilExit()
        group.wait()
        return ForkliftRun(
            stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self),
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal)
    }

    /// Runs Lua `source` as a script file with `arguments` after it.
    @discardableResult
    static func runScript(
        _ source: String, arguments: [String] = [], options: [String] = [], stdin: String? = nil,
        environment: [String: String] = [:], timeout: Double = 60,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ForkliftRun {
        let path = try script(source)
        return try run(
            options + [path] + arguments, stdin: stdin, environment: environment, timeout: timeout,
            sourceLocation: sourceLocation)
    }
}

/// Entries that appeared in /dev/shm between two listings, leaving out those
/// CPython's multiprocessing makes (`sem.mp-*`, `psm_*`, `wnsm_*`): the
/// benchmark tests may run Python at the same time, and Forklift itself never
/// creates anything there.
func newShmEntries(before: Set<String>, after: Set<String>) -> Set<String> {
    after.subtracting(before).filter { !$0.hasPrefix("sem.mp-") && !$0.hasPrefix("psm_") && !$0.hasPrefix("wnsm_") }
}
