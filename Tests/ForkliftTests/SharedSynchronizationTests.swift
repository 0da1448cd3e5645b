import CSystem
import Foundation
import Testing

@testable import Forklift

/// The shared-memory synchronisation cores, exercised by threads of the test
/// process (futexes and robust mutexes work between threads as between
/// processes; the cross-process behaviour is tested end to end).
@Suite("shared synchronisation cores (threads, one process)", .serialized)
struct SharedSynchronizationTests {
    let allocator: SharedAllocator

    init() throws { allocator = SharedAllocator(try SharedArena.ensure()) }

    /// Runs `body(i)` on `n` threads and waits for all of them.
    func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchSemaphore(value: 0)
        for i in 0..<n {
            Thread.detachNewThread {
                body(i)
                done.signal()
            }
        }
        for _ in 0..<n { done.wait() }
    }

    func block(_ bytes: Int) throws -> (offset: Int, payload: UnsafeMutableRawPointer) {
        let offset = try allocator.allocate(payloadBytes: bytes, kind: 1)
        return (offset, allocator.payload(of: offset))
    }

    @Test func semaphoreBoundsConcurrency() throws {
        let (o1, state) = try block(SharedSemaphore.payloadBytes)
        let (o2, counters) = try block(8)
        defer { allocator.release(o1); allocator.release(o2) }
        nonisolated(unsafe) let sem = SharedSemaphore(state: state)
        sem.initialize(value: 2, maximum: 2)
        nonisolated(unsafe) let inside = counters.assumingMemoryBound(to: UInt32.self)
        nonisolated(unsafe) let most = inside + 1
        onThreads(4) { _ in
            for _ in 0..<300 {
                #expect(sem.acquire(deadline: Clock.now() + 10))
                let n = forklift_fetch_add32(inside, 1) + 1
                var seen = forklift_load32(most)
                while n > seen && !forklift_cas32(most, &seen, n) {}
                forklift_fetch_sub32(inside, 1)
                #expect(sem.release())
            }
        }
        #expect(forklift_load32(most) <= 2 && forklift_load32(most) >= 1)
        #expect(sem.value == 2)
        #expect(!sem.release(), "bounded at 2")
        #expect(sem.tryTake() && sem.tryTake() && !sem.tryTake())
        #expect(!sem.acquire(deadline: Clock.now() + 0.02))
    }

    @Test func eventWakesEveryWaiter() throws {
        let (o, state) = try block(SharedEvent.payloadBytes)
        defer { allocator.release(o) }
        nonisolated(unsafe) let event = SharedEvent(state: state)
        #expect(!event.wait(deadline: Clock.now() + 0.01))
        nonisolated(unsafe) var results = [Bool](repeating: false, count: 3)
        let lock = NSLock()
        let setter = Thread {
            usleep(50_000)
            event.set()
        }
        setter.start()
        onThreads(3) { i in
            let r = event.wait(deadline: Clock.now() + 10)
            lock.lock()
            results[i] = r
            lock.unlock()
        }
        #expect(results == [true, true, true])
        event.clear()
        #expect(!event.isSet)
    }

    @Test func conditionNotifiesAWaiterOnAnotherThread() throws {
        let (lockOffset, lockState) = try block(SharedLock.payloadBytes)
        let (o, state) = try block(SharedConditionState.payloadBytes)
        defer { allocator.release(o); allocator.release(lockOffset) }
        nonisolated(unsafe) let lock = SharedLock(lockState)
        try lock.initialize()
        nonisolated(unsafe) let condition = SharedConditionState(state: state)
        condition.initialize(lockOffset: lockOffset)
        let waiting = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var notified = false
        let waiter = Thread {
            #expect(lock.acquire(recursive: true) == .acquired)
            #expect(lock.acquire(recursive: true) == .acquired)  // depth 2, restored after the wait
            waiting.signal()
            notified = condition.wait(lock: lock, deadline: Clock.now() + 10).notified
            #expect(lock.isMine && lock.depth == 2)
            _ = lock.release()
            _ = lock.release()
            waiting.signal()
        }
        waiter.start()
        waiting.wait()
        // The waiter released the lock inside wait: we can take it and notify.
        var woke: UInt32 = 0
        let deadline = Clock.now() + 10
        while woke == 0 && Clock.now() < deadline {
            #expect(lock.acquire(recursive: true) == .acquired)
            woke = condition.notify(1)
            _ = lock.release()
            if woke == 0 { usleep(1000) }
        }
        waiting.wait()
        #expect(woke == 1 && notified)
        // Nobody waiting: a time-out returns false and leaves no waiter counted.
        #expect(lock.acquire(recursive: true) == .acquired)
        #expect(!condition.wait(lock: lock, deadline: Clock.now() + 0.02).notified)
        #expect(condition.waiting == 0)
        _ = lock.release()
    }

    @Test func barrierRoundsGiveDistinctIndices() throws {
        let (o, state) = try block(SharedBarrier.payloadBytes)
        defer { allocator.release(o) }
        nonisolated(unsafe) let barrier = SharedBarrier(state: state)
        try barrier.initialize(parties: 3, timeout: nil)
        let lock = NSLock()
        nonisolated(unsafe) var indices: [[UInt32]] = Array(repeating: [], count: 5)
        onThreads(3) { _ in
            for round in 0..<5 {
                let index: UInt32
                switch barrier.arrive() {
                case .last(let i):
                    barrier.finishRound()
                    index = i
                case .sleep(let r, let i):
                    #expect(barrier.sleep(round: r, deadline: Clock.now() + 10) == .passed)
                    index = i
                case .broken, .reentered:
                    Issue.record("unexpected")
                    return
                }
                lock.lock()
                indices[round].append(index)
                lock.unlock()
            }
        }
        #expect(indices.allSatisfy { $0.sorted() == [0, 1, 2] }, "\(indices)")
        // A lone sleeper times out and breaks it; reset mends it.
        guard case .sleep(let r, _) = barrier.arrive() else { Issue.record("expected to sleep"); return }
        #expect(barrier.sleep(round: r, deadline: Clock.now() + 0.02) == .timedOut)
        #expect(barrier.isBroken)
        if case .broken = barrier.arrive() {} else { Issue.record("expected broken") }
        barrier.reset()
        #expect(!barrier.isBroken && barrier.waiting == 0)
    }
}
