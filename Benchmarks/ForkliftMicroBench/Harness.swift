internal import Forklift
internal import Glibc

/// One hot path timed in a loop. `body(n)` performs the operation `n` times;
/// `bytesPerOperation` (when not 0) adds a MiB/s figure.
struct Benchmark {
    let name: String
    var bytesPerOperation = 0
    /// Extra `key=value` text for the result line.
    var info = ""
    /// What the body needs alive (the Lua state it runs in).
    var owner: AnyObject? = nil
    let body: (Int) throws -> Void
}

extension Benchmark {
    /// A round trip timed as one operation: `put(sender, payload)` then
    /// `get(receiver)`, each a Lua function at a stack slot of `state`
    /// (frames through a pipe, messages through a queue).
    static func roundTrip(
        _ name: String, bytes: Int, state: LuaState,
        put: Int32, sender: Int32, payload: Int32, get: Int32, receiver: Int32
    ) -> Benchmark {
        let lua = state.lua
        return Benchmark(name: name, bytesPerOperation: bytes, owner: state) { n in
            for _ in 0..<n {
                lua.pushValue(at: put)
                lua.pushValue(at: sender)
                lua.pushValue(at: payload)
                try state.call(nargs: 2, nresults: 0)
                lua.pushValue(at: get)
                lua.pushValue(at: receiver)
                try state.call(nargs: 1, nresults: 1)
                lua.pop()
            }
        }
    }
}

/// A timing loop with no dependencies: calibrates the repetition count so a
/// sample lasts about `sampleSeconds`, takes `samples` samples and reports the
/// median and the best. Monotonic clock (`clock_gettime`), wall time.
struct Harness {
    var samples = 7
    var sampleSeconds = 0.05

    struct Result {
        let name: String
        let nanosecondsPerOperation: Double
        let bestNanoseconds: Double
        let bytesPerOperation: Int
        let info: String

        var line: String {
            var text = "\(name) ns_per_op=\(format(nanosecondsPerOperation)) best_ns=\(format(bestNanoseconds))"
            text += " ops_per_s=\(format(1e9 / nanosecondsPerOperation, decimals: 0))"
            if bytesPerOperation > 0 {
                let mib = Double(bytesPerOperation) / Double(1 << 20)
                text += " mib_per_s=\(format(mib / (nanosecondsPerOperation * 1e-9), decimals: 1))"
            }
            return info.isEmpty ? text : text + " " + info
        }
    }

    func run(_ benchmark: Benchmark) throws -> Result {
        try benchmark.body(1)  // warm caches and lazily built state
        var count = 1
        while true {
            let t = try time(benchmark, count)
            if t >= sampleSeconds / 10 || count >= 1 << 30 {
                count = max(1, Int(Double(count) * sampleSeconds / max(t, 1e-9)))
                break
            }
            count *= 4
        }
        var perOperation: [Double] = []
        for _ in 0..<samples {
            perOperation.append(try time(benchmark, count) / Double(count) * 1e9)
        }
        perOperation.sort()
        return Result(name: benchmark.name, nanosecondsPerOperation: perOperation[perOperation.count / 2],
                      bestNanoseconds: perOperation[0], bytesPerOperation: benchmark.bytesPerOperation, info: benchmark.info)
    }

    private func time(_ benchmark: Benchmark, _ count: Int) throws -> Double {
        let t0 = now()
        try benchmark.body(count)
        return now() - t0
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Keeps a value alive so the optimiser cannot drop the work that made it.
@_optimize(none)
func blackHole<T>(_ value: T) {}

private func format(_ value: Double, decimals: Int = 1) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, "%.\(decimals)f", $0) }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
