public import Forklift

extension ForkliftPool {
    /// The results of mapping `function` over `inputs`, as an `AsyncSequence`
    /// for Swift-concurrency callers: `(index, value)` pairs in input order.
    ///
    /// ```swift
    /// for try await (i, y) in pool.results(of: .global("work"), over: xs, as: Double.self) { ... }
    /// ```
    /// The inputs go to the pool in batches of `batchSize` (Lua's
    /// `map_async`), all submitted on the first `next()`. While waiting the
    /// iterator keeps the pool moving in slices of at most `pollInterval`
    /// seconds and checks for cancellation between them: cancelling the
    /// task stops the work by terminating the pool (its workers are killed),
    /// and `next()` throws `CancellationError`.
    ///
    /// In a program with Swift concurrency the process has threads, so the
    /// pool must use `.forkserver` or `.spawn` (an unset start method picks
    /// the fork server); a pool forced to `.fork` cannot be created there.
    /// - Parameters:
    ///   - batchSize: inputs per submitted batch; nil: about 4 batches per worker.
    ///   - pollInterval: the longest a `next()` blocks its thread between cancellation checks.
    public func results<Input: LuaRepresentable, Output: LuaConvertible>(
        of function: LuaCallable, over inputs: [Input], as type: Output.Type = Output.self,
        batchSize: Int? = nil, pollInterval: Double = 0.05
    ) -> PoolResults<Output> {
        let processes = max(1, self.processes)
        let size = batchSize ?? max(1, (inputs.count + 4 * processes - 1) / (4 * processes))
        return PoolResults(
            pool: self, function: function, inputs: inputs.map(\.luaValue), batchSize: max(1, size),
            pollInterval: max(0, pollInterval))
    }
}

/// The results of `ForkliftPool.results(of:over:)`: an `AsyncSequence` of
/// `(index, value)` pairs in input order (0-based indices). Iterate it once,
/// from one task; the pool is not thread-safe.
public struct PoolResults<Output: LuaConvertible>: AsyncSequence {
    /// A result and the 0-based position of its input.
    public typealias Element = (index: Int, value: Output)

    let pool: ForkliftPool
    let function: LuaCallable
    let inputs: [LuaValue]
    let batchSize: Int
    let pollInterval: Double

    /// Starts the iteration (nothing is submitted before the first `next()`).
    public func makeAsyncIterator() -> Iterator {
        Iterator(sequence: self)
    }

    /// Pulls the results; see `ForkliftPool.results(of:over:)`.
    public struct Iterator: AsyncIteratorProtocol {
        let sequence: PoolResults
        var submitted = false
        var batches: [(start: Int, pending: PendingMap<Output>)] = []
        var nextBatch = 0
        var ready: [Output] = []
        var readyStart = 0
        var readyOffset = 0

        init(sequence: PoolResults) { self.sequence = sequence }

        /// The next result, or nil after the last one.
        /// - Throws: `ForkliftError` as `ForkliftPool.map` does (a task that
        ///   raised, a lost worker, a result that is not an `Output`), or
        ///   `CancellationError` once the task was cancelled (the pool is then terminated).
        public mutating func next() async throws -> Element? {
            try await next(isolation: nil)
        }

        /// The next result, running on the caller's actor (the pool stays in its isolation domain).
        public mutating func next(isolation actor: isolated (any Actor)?) async throws -> Element? {
            if readyOffset < ready.count {
                defer { readyOffset += 1 }
                return (readyStart + readyOffset, ready[readyOffset])
            }
            try checkCancellation()
            if !submitted { try submit() }
            guard nextBatch < batches.count else { return nil }
            let (start, pending) = batches[nextBatch]
            while try !pending.wait(timeout: sequence.pollInterval) {
                await Task.yield()
                try checkCancellation()
            }
            ready = try pending.get()
            readyStart = start
            readyOffset = 1
            nextBatch += 1
            guard !ready.isEmpty else { return nil }
            return (start, ready[0])
        }

        mutating func submit() throws(ForkliftError) {
            submitted = true
            var start = 0
            let all = sequence.inputs
            while start < all.count {
                let end = Swift.min(all.count, start + sequence.batchSize)
                let pending = try sequence.pool.mapAsync(
                    sequence.function, over: Array(all[start..<end]), as: Output.self, chunksize: end - start)
                batches.append((start, pending))
                start = end
            }
        }

        func checkCancellation() throws {
            if Task.isCancelled {
                sequence.pool.terminate()
                throw CancellationError()
            }
        }
    }
}
