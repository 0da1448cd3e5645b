import Foundation
import Testing

/// scripts/bench is how every speed target is checked: its own tests (failure
/// reasons, n/a instead of numbers, ratio orientation, time-outs, a real W3
/// run of the built forklift) live beside it in Python and run here.
@Suite("scripts/bench", .serialized) struct BenchScriptTests {
    @Test func benchRunnerTestsPass() throws {
        let dir = try Forklift.temporaryDirectory()
        let outURL = dir.appendingPathComponent("out.txt")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Forklift.packageRoot.appendingPathComponent("scripts/bench.d/test_bench.py").path]
        var env = ProcessInfo.processInfo.environment
        env["FORKLIFT_BIN"] = Forklift.executable
        process.environment = env
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try out.close()
        let text = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "test_bench.py failed:\n\(text)")
        #expect(text.contains("\nOK"), "test_bench.py did not report OK:\n\(text)")
        #expect(!text.contains("skipped"), "the built forklift was not found:\n\(text)")
    }
}
