import Foundation
import Testing

/// The embedding API where it forks: run in fresh single-threaded processes
/// (the demo and `ForkliftEmbedScenarios`), never in the test process.
@Suite("Embedding Forklift in Swift: pools driven from Swift (end to end)", .serialized)
struct EmbeddingTests {
    /// A sibling of the `forklift` executable under test (same build directory).
    static func binary(_ name: String) -> String {
        URL(fileURLWithPath: Forklift.executable).deletingLastPathComponent().appendingPathComponent(name).path
    }

    func scenario(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String] {
        let r = try Forklift.run(
            [name], timeout: 60, executable: Self.binary("ForkliftEmbedScenarios"), sourceLocation: sourceLocation)
        #expect(r.status == 0, "stderr: \(r.stderr)\nstdout: \(r.stdout)", sourceLocation: sourceLocation)
        return r.stdout.split(separator: "\n").map(String.init)
    }

    @Test func demoMapsALuaFunctionThatCallsSwiftInWorkers() throws {
        let r = try Forklift.run(
            ["--workers", "2", "one two three", "", "a bb ccc dddd"], executable: Self.binary("ForkliftEmbedDemo"))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0] == "1\t3 words\tlongest=three\tchecksum ok\t\"one two three\"")
        #expect(lines[1] == "2\t0 words\tlongest=-\tchecksum ok\t\"\"")
        #expect(lines[2] == "3\t4 words\tlongest=dddd\tchecksum ok\t\"a bb ccc dddd\"")
        // How the pool spreads 3 items over 2 workers is its own business.
        #expect(lines[3].hasPrefix("3 lines analysed in "))
        #expect(lines[3].hasSuffix(" worker process(es) started by fork"))
    }

    @Test func demoInAMultithreadedProgramUsesTheForkServerWithItsSwiftFunctions() throws {
        let r = try Forklift.run(["--threads", "x yy", "zzz"], executable: Self.binary("ForkliftEmbedDemo"))
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "1\t2 words\tlongest=yy\tchecksum ok\t\"x yy\"")
        #expect(lines.dropFirst().first == "2\t1 words\tlongest=zzz\tchecksum ok\t\"zzz\"")
        #expect(lines.last?.hasSuffix(" worker process(es) started by forkserver") == true)
    }

    @Test func demoForcingForkWithThreadsFailsWithTheClearError() throws {
        let r = try Forklift.run(["--threads", "--start-method", "fork", "a"], executable: Self.binary("ForkliftEmbedDemo"))
        #expect(r.status == 1)
        #expect(r.stdout.hasPrefix("ForkliftEmbedDemo: ForkInMultithreadedProcess: cannot use the fork start method"))
    }

    @Test func registeredSwiftFunctionsRunInsideWorkers() throws {
        let out = try scenario("map-kinds")
        #expect(out == [
            "global [2, 5, 10, 17, 26, 37]",
            "swift [49, 64]",
            "source [\"AB4\", \"XYZ9\"]",
            "value [100.5, 101.5]",
            "optional [\"nil\", \"2\", \"nil\", \"4\"]",
            "pids-not-host true true",
        ])
    }

    @Test func taskErrorsAreTypedWithTheWorkersTraceback() throws {
        let out = try scenario("remote-error")
        #expect(out == [
            "code RemoteError",
            "index 2",
            "message validate.lua:2: three is not allowed",
            "value validate.lua:2: three is not allowed",
            "traceback-has-check true",
            "traceback-has-validate true",
            "after [50]",
            "conversion ConversionError 0 cannot convert string to Int at [1]",
            "not-sendable NotSendable",
            "bad-source ValueError true",
            "no-global ValueError no global function 'no_such_global' (found nil)",
            "closed StateError",
        ])
    }

    @Test func imapStreamsAndMapAsyncWaits() throws {
        let out = try scenario("streaming")
        #expect(out == [
            "imap [\"0:2\", \"1:4\", \"2:6\", \"3:8\"]",
            "imap_unordered 10 true true",
            "item 0 1",
            "imap-error RemoteError 1 bad two",
            "ready-at-once false",
            "ready-later true",
            "async [1, 2]",
        ])
    }

    @Test func aThreadStartedAfterThePoolStopsForksOrMovesToTheForkServer() throws {
        let out = try scenario("thread-appears")
        #expect(out == [
            "before-thread [1] fork fork",
            "thread-started true",
            "forced-after-thread ForkInMultithreadedProcess",
            "automatic-after-thread [2, 3, 4] forkserver",
            "new-forced-pool ForkInMultithreadedProcess",
            "new-automatic-pool forkserver",
        ])
    }

    @Test func execStartedWorkersAreThisExecutableWithItsSwiftFunctions() throws {
        let out = try scenario("exec-methods")
        #expect(out == [
            "spawn spawn [\"ForkliftEmbedScenarios:4\", \"ForkliftEmbedScenarios:9\"] true",
            "forkserver forkserver [\"ForkliftEmbedScenarios:4\", \"ForkliftEmbedScenarios:9\"] true",
        ])
    }

    @Test func multithreadedProgramMapsAHundredTimesWithoutDeadlock() throws {
        let out = try scenario("threaded-maps")
        #expect(out == ["threads-running true", "maps 100 of 100 correct with forkserver"])
    }

    @Test func workersSurviveTheThreadThatStartedThem() throws {
        #expect(try scenario("pool-outlives-thread") == ["after-thread-ended [2, 3, 4, 5]"])
    }

    @Test func workersAndForkServerEndWhenAMultithreadedHostDies() throws {
        let r = try Forklift.run(["parent-dies"], executable: Self.binary("ForkliftEmbedScenarios"))
        #expect(r.signaled && r.status == SIGKILL)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "method forkserver")
        let host = try #require(lines.first { $0.hasPrefix("host ") }.map { String($0.dropFirst(5)) })
        let workers = try #require(lines.first { $0.hasPrefix("workers ") }).split(separator: " ").dropFirst().compactMap { Int32($0) }
        #expect(!workers.isEmpty)
        var left: [String] = []
        for _ in 0..<100 {
            left = workers.filter { kill($0, 0) == 0 }.map { "worker \($0)" } + Self.processes(spawnedBy: host)
            if left.isEmpty { break }
            usleep(50_000)
        }
        #expect(left.isEmpty, "still running: \(left)")
    }

    /// Processes whose command line says they were spawned by `pid` (the fork server).
    static func processes(spawnedBy pid: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { entry in
            guard let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
            let args = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard args.count >= 3, args[1] == "--forklift-spawned", args[2] == pid else { return nil }
            // A zombie (already exited, not yet reaped) has an empty cmdline and is not listed.
            return "spawned \(entry)"
        }
    }
}
