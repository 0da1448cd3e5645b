import Foundation
import Testing

/// Runs the same command line under `forklift` and the stock `lua5.4`
/// (installed by scripts/setup) and compares what they did.
enum LuaComparison {
    /// The stock interpreter, found on PATH.
    static let stockLua: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin"] {
            let candidate = "\(dir)/lua5.4"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Both runs, with each program's own path in its output replaced by `PROG`.
    struct Pair {
        var forklift: ForkliftRun
        var lua: ForkliftRun
    }

    static func run(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> Pair? {
        guard let stockLua else {
            Issue.record("lua5.4 is not installed: run scripts/setup", sourceLocation: sourceLocation)
            return nil
        }
        var f = try Forklift.run(arguments, stdin: stdin, environment: environment, sourceLocation: sourceLocation)
        var l = try Forklift.run(
            arguments, stdin: stdin, environment: environment, executable: stockLua, sourceLocation: sourceLocation)
        f.stdout = f.stdout.replacingOccurrences(of: Forklift.executable, with: "PROG")
        f.stderr = f.stderr.replacingOccurrences(of: Forklift.executable, with: "PROG")
        l.stdout = l.stdout.replacingOccurrences(of: stockLua, with: "PROG")
        l.stderr = l.stderr.replacingOccurrences(of: stockLua, with: "PROG")
        return Pair(forklift: f, lua: l)
    }

    /// Expects `forklift` to behave exactly as `lua5.4`: same stdout, stderr and status.
    @discardableResult
    static func expectSame(
        _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ForkliftRun? {
        guard let pair = try run(arguments, stdin: stdin, environment: environment, sourceLocation: sourceLocation)
        else { return nil }
        #expect(pair.forklift.stdout == pair.lua.stdout, "stdout", sourceLocation: sourceLocation)
        #expect(pair.forklift.stderr == pair.lua.stderr, "stderr", sourceLocation: sourceLocation)
        #expect(pair.forklift.status == pair.lua.status, "exit status", sourceLocation: sourceLocation)
        #expect(!pair.forklift.signaled, sourceLocation: sourceLocation)
        return pair.forklift
    }
}
