import Forklift
import Glibc
import Testing

/// Every test that starts worker processes from the test process: one at a
/// time, because child processes are bookkept per process (a host closing
/// finishes them) and the hosts of parallel tests would share that.
@Suite("pools started from the test process", .serialized) enum InProcessPoolTests {}

extension InProcessPoolTests {
/// The `swift test` process runs several threads: the real situation of a
/// multithreaded Swift program. A forced `.fork` must refuse before forking;
/// `.forkserver` and `.spawn` start workers by exec (posix_spawn), which is
/// safe here, and an unset start method picks the fork server.
@Suite("Swift pool start methods in a multithreaded process")
struct PoolStartMethodTests {
    @Test func forcedForkIsRefusedWithTheTypedErrorWhenThreadsRun() throws {
        let host = try ForkliftHost()
        defer { host.close() }
        let e = #expect(throws: ForkliftError.self) {
            try host.makePool(PoolConfiguration(processes: 2, startMethod: .fork))
        }
        #expect(e?.code == .forkInMultithreadedProcess)
        #expect(e?.message.contains("threads") == true)
        #expect(e?.message.contains(".forkserver") == true)
        // Nothing was started: the host still works and has no children.
        #expect(try host.evaluate("#mp.active_children()") == [0])
    }

    @Test func forcedForkIsRefusedFromInsideASwiftTask() async throws {
        let code = try await Task.detached { () -> ForkliftError.Code? in
            let host = try ForkliftHost()
            defer { host.close() }
            do throws(ForkliftError) {
                _ = try host.makePool(PoolConfiguration(startMethod: .fork))
                return nil
            } catch {
                return error.code
            }
        }.value
        #expect(code == .forkInMultithreadedProcess)
    }

    @Test func unsetStartMethodUsesTheForkServerHere() throws {
        let host = try ForkliftHost()
        defer { host.close() }
        let pool = try host.makePool(PoolConfiguration(processes: 2))
        #expect(pool.startMethod == .forkserver)
        #expect(pool.processes == 2)
        let squares: [Int] = try pool.map(.source("function(x) return x * x end"), over: Array(1...20))
        #expect(squares == (1...20).map { $0 * $0 })
        try pool.close()
    }

    @Test(arguments: [StartMethod.forkserver, .spawn])
    func execStartMethodsMapAndReportErrors(method: StartMethod) throws {
        let host = try ForkliftHost()
        defer { host.close() }
        let pool = try host.makePool(PoolConfiguration(processes: 2, startMethod: method))
        #expect(pool.startMethod == method)
        let k = 7
        let f = try host.compile("local k = \(k); return function(x) return x * k end")
        let out: [Int] = try pool.map(.function(f), over: [1, 2, 3])
        #expect(out == [7, 14, 21])
        let e = #expect(throws: ForkliftError.self) {
            let _: [Int] = try pool.map(.source("function(x) if x > 1 then error('too big') end return x end"), over: [1, 2])
        }
        #expect(e?.code == .remoteError)
        #expect(e?.taskIndex == 1)
        #expect(e?.message.hasSuffix("too big") == true)
        try pool.close()
        #expect(!pool.isOpen)
        #expect(pool.processes == 0)
    }
}

@Suite("Swift functions and exec-started workers of a program that did not launch")
struct SwiftFunctionReachabilityTests {
    @Test func mappingASwiftFunctionUnderSpawnWithoutLaunchIsAClearError() throws {
        let host = try ForkliftHost()
        defer { host.close() }
        host.register("swift_only") { (x: Int) in x + 1 }
        let pool = try host.makePool(PoolConfiguration(processes: 1, startMethod: .spawn))
        defer { pool.terminate() }
        let e = #expect(throws: ForkliftError.self) { let _: [Int] = try pool.map(.global("swift_only"), over: [1]) }
        #expect(e?.code == .valueError)
        #expect(e?.message.contains("ForkliftHost.launch") == true)
        // Called from Lua in the worker, it is a Lua error with the worker's traceback.
        let nested = #expect(throws: ForkliftError.self) {
            let _: [Int] = try pool.map(.source("function(x) return swift_only(x) end"), over: [1])
        }
        #expect(nested?.code == .remoteError, "\(String(describing: nested))")
        #expect(nested?.message.contains("global 'swift_only'") == true)
        // The pool is still usable.
        let ok: [Int] = try pool.map(.source("function(x) return x + 1 end"), over: [1])
        #expect(ok == [2])
    }
}

@Suite("several hosts in one process")
struct SeveralHostsTests {
    /// Processes started by exec from this process (fork servers and the workers they forked).
    static func spawnedByUs() -> Int {
        let me = String(getpid())
        var n = 0
        guard let dir = opendir("/proc") else { return -1 }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int(name) != nil, let f = fopen("/proc/\(name)/cmdline", "r") else { continue }
            var bytes = [UInt8](repeating: 0, count: 4096)
            let count = fread(&bytes, 1, bytes.count, f)
            fclose(f)
            let args = bytes[0..<count].split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if args.count >= 3, args[1] == "--forklift-spawned", args[2] == me { n += 1 }
        }
        return n
    }

    @Test func closingAHostStopsItsForkServerAndItsWorkers() throws {
        let before = Self.spawnedByUs()
        // Another host stays open, so closing this one is not the process's last close.
        let keeper = try ForkliftHost()
        defer { keeper.close() }
        let host = try ForkliftHost()
        let pool = try host.makePool(PoolConfiguration(processes: 2, startMethod: .forkserver))
        let out: [Int] = try pool.map(.source("function(x) return -x end"), over: [1, 2])
        #expect(out == [-1, -2])
        #expect(Self.spawnedByUs() >= before + 3)  // the server and 2 workers
        host.close()
        var now = Self.spawnedByUs()
        for _ in 0..<100 where now > before {
            usleep(20_000)
            now = Self.spawnedByUs()
        }
        #expect(now == before)
    }

    @Test func closingOneHostLeavesAnothersWorkersRunning() throws {
        let a = try ForkliftHost()
        defer { a.close() }
        let pool = try a.makePool(PoolConfiguration(processes: 1, startMethod: .spawn))
        let first: [Int] = try pool.map(.source("function(x) return x * 3 end"), over: [1, 2])
        let b = try ForkliftHost()
        b.close()
        let second: [Int] = try pool.map(.source("function(x) return x * 3 end"), over: [3])
        #expect(first + second == [3, 6, 9])
        try pool.close()
    }
}

@Suite("starmap and apply")
struct StarmapApplyTests {
    @Test func starmapSpreadsArgumentListsAndApplyReturnsEveryResult() throws {
        let host = try ForkliftHost()
        defer { host.close() }
        let pool = try host.makePool(PoolConfiguration(processes: 2, startMethod: .spawn))
        let sums: [Int] = try pool.starmap(.source("function(a, b, c) return a + b + (c or 100) end"), over: [[1, 2], [3, 4, 5]])
        #expect(sums == [103, 12])
        let holes: [String] = try pool.starmap(
            .source("function(a, b, c) return tostring(a) .. tostring(b) .. tostring(c) end"),
            over: [[LuaValue.nil, 1, LuaValue.nil], ["x"]])
        #expect(holes == ["nil1nil", "xnilnil"])
        #expect(try pool.apply(.source("function(a, b) return b, a, nil end"), 1, "two") == ["two", 1, .nil])
        let e = #expect(throws: ForkliftError.self) { try pool.apply(.source("function() error('no', 0) end")) }
        #expect(e?.code == .remoteError)
        #expect(e?.taskIndex == 0)
        try pool.close()
    }
}

@Suite("Codable inputs and results through a pool")
struct PoolCodableTests {
    struct Order: Codable, Equatable { var id: Int; var items: [String]; var discount: Double? }
    struct Total: Codable, Equatable { var id: Int; var count: Int; var label: String }

    @Test func structsCrossToWorkersAndBack() throws {
        let host = try ForkliftHost()
        defer { host.close() }
        let pool = try host.makePool(PoolConfiguration(processes: 2, startMethod: .spawn))
        let orders = [Order(id: 1, items: ["a", "b"], discount: nil), Order(id: 2, items: [], discount: 0.5)]
        let totals = try pool.map(
            .source("function(o) return { id = o.id, count = #o.items, label = o.discount and 'sale' or 'full' } end"),
            encoding: orders, decoding: Total.self)
        #expect(totals == [Total(id: 1, count: 2, label: "full"), Total(id: 2, count: 0, label: "sale")])
        let e = #expect(throws: ForkliftError.self) {
            try pool.map(.source("function(o) return { id = o.id } end"), encoding: orders, decoding: Total.self)
        }
        #expect(e?.code == .conversion)
        #expect(e?.taskIndex == 0)
        #expect(e?.message.contains("count") == true)
        let big = #expect(throws: ForkliftError.self) {
            try pool.map(.source("function(x) return x end"), encoding: [UInt64.max], decoding: Int.self)
        }
        #expect(big?.code == .conversion)
        try pool.close()
    }
}
}
