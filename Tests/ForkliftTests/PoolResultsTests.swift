import Forklift
import ForkliftConcurrency
import Glibc
import Synchronization
import Testing

/// The AsyncSequence of pool results, from Swift tasks in this (multithreaded)
/// process: the pool uses the fork server, so nothing here forks the test process.
extension InProcessPoolTests {
@Suite("ForkliftPool.results: AsyncSequence for Swift concurrency")
struct PoolResultsTests {
    @Test func resultsArriveInOrderAcrossBatches() async throws {
        let collected = try await Task.detached { () -> [String] in
            let host = try ForkliftHost()
            defer { host.close() }
            let pool = try host.makePool(PoolConfiguration(processes: 2))
            var out: [String] = []
            for try await (i, s) in pool.results(
                of: .source("function(x) return ('%d:%s'):format(x, string.rep('*', x % 3)) end"),
                over: Array(1...25), as: String.self, batchSize: 4)
            {
                out.append("\(i)=\(s)")
            }
            try pool.close()
            return out
        }.value
        #expect(collected == (1...25).map { "\($0 - 1)=\($0):\(String(repeating: "*", count: $0 % 3))" })
    }

    @Test func emptyInputsFinishAtOnce() async throws {
        let count = try await Task.detached { () -> Int in
            let host = try ForkliftHost()
            defer { host.close() }
            let pool = try host.makePool(PoolConfiguration(processes: 1))
            var n = 0
            for try await _ in pool.results(of: .source("function(x) return x end"), over: [Int](), as: Int.self) { n += 1 }
            try pool.close()
            return n
        }.value
        #expect(count == 0)
    }

    @Test func aTaskErrorIsThrownByTheLoop() async throws {
        let outcome = try await Task.detached { () -> (Int, ForkliftError?) in
            let host = try ForkliftHost()
            defer { host.close() }
            let pool = try host.makePool(PoolConfiguration(processes: 2))
            var seen = 0
            do {
                for try await _ in pool.results(
                    of: .source("function(x) if x == 5 then error('five', 0) end return x end"), over: Array(1...8),
                    as: Int.self, batchSize: 2)
                {
                    seen += 1
                }
                return (seen, nil)
            } catch let e as ForkliftError {
                pool.terminate()
                return (seen, e)
            }
        }.value
        #expect(outcome.0 == 4)
        #expect(outcome.1?.code == .remoteError)
        #expect(outcome.1?.taskIndex == 0)  // its index inside the failing batch
        #expect(outcome.1?.message == "five")
    }

    @Test func cancellingTheTaskStopsTheWork() async throws {
        // Each item takes 0.3 s in a worker: 40 items over 2 workers would take 6 s.
        let firstArrived = Atomic<Bool>(false)
        let task = Task.detached { () -> (received: Int, pids: [Int32], cancelled: Bool, open: Bool) in
            let host = try ForkliftHost()
            defer { host.close() }
            let pool = try host.makePool(PoolConfiguration(processes: 2))
            var received = 0
            var pids: [Int32] = []
            do {
                for try await (_, pid) in pool.results(
                    of: .source("function(x) mp.sleep(0.3); return mp.current_process().pid end"),
                    over: Array(1...40), as: Int32.self, batchSize: 1)
                {
                    received += 1
                    pids.append(pid)
                    firstArrived.store(true, ordering: .releasing)
                }
                return (received, pids, false, pool.isOpen)
            } catch is CancellationError {
                return (received, pids, true, pool.isOpen)
            }
        }
        // Cancel while the loop waits for a later result.
        while !firstArrived.load(ordering: .acquiring) { try await Task.sleep(nanoseconds: 10_000_000) }
        try await Task.sleep(nanoseconds: 100_000_000)
        task.cancel()
        let r = try await task.value
        #expect(r.cancelled)
        #expect(r.received >= 1 && r.received < 40)
        #expect(!r.open)
        // The workers that ran the tasks are gone (terminated, not left running).
        for pid in Set(r.pids) {
            var gone = false
            for _ in 0..<200 where !gone {
                gone = kill(pid, 0) != 0
                if !gone { usleep(10_000) }
            }
            #expect(gone, "worker \(pid) still runs after cancellation")
        }
    }
}
}
