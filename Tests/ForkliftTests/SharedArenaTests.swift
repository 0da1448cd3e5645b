import Dispatch
import Glibc
import Testing

@testable import Forklift

@Suite("shared arena, allocator, futex and robust mutex (one process)", .serialized)
struct SharedArenaTests {
    let allocator: SharedAllocator

    init() throws {
        allocator = SharedAllocator(try SharedArena.ensure())
    }

    @Test func arenaIsLargeSparseAndNotInDevShm() throws {
        let arena = try SharedArena.ensure()
        #expect(arena.size >= 1 << 30)
        #expect(SharedArena.current === arena)
        let leftovers = try FileManagerFree.entries(of: "/dev/shm").filter { $0.contains("forklift") }
        #expect(leftovers.isEmpty)
    }

    @Test func blocksAreAlignedZeroedAndCounted() throws {
        let a = try allocator.allocate(payloadBytes: 24, kind: 7)
        let b = try allocator.allocate(payloadBytes: 24, kind: 7)
        #expect(a % 64 == 0 && b % 64 == 0 && a != b)
        #expect(allocator.referenceCount(of: a) == 1)
        #expect(allocator.kind(of: a) == 7)
        allocator.payload(of: a).storeBytes(of: 0xDEAD_BEEF, as: UInt64.self)
        allocator.release(a)
        // The freed block is recycled for the same size class, zeroed, with a new generation.
        let generation = allocator.generation(of: a)
        let c = try allocator.allocate(payloadBytes: 40, kind: 7)
        #expect(c == a)
        #expect(allocator.payload(of: c).load(as: UInt64.self) == 0)
        #expect(allocator.generation(of: c) != generation)
        allocator.release(b)
        allocator.release(c)
    }

    @Test func staleHandlesAreRefused() throws {
        let a = try allocator.allocate(payloadBytes: 8, kind: 3)
        let generation = allocator.generation(of: a)
        #expect(allocator.retainIfAlive(a, generation: generation, kind: 3))
        #expect(allocator.referenceCount(of: a) == 2)
        #expect(!allocator.retainIfAlive(a, generation: generation, kind: 4))
        #expect(!allocator.retainIfAlive(a, generation: generation &+ 1, kind: 3))
        allocator.release(a)
        allocator.release(a)
        #expect(!allocator.retainIfAlive(a, generation: generation, kind: 3))
        #expect(!allocator.retainIfAlive(12345, generation: generation, kind: 3))
        #expect(!allocator.retainIfAlive(allocator.highWater + 4096, generation: generation, kind: 3))
    }

    @Test func largeBlocksArePageAlignedRecycledAndSplit() throws {
        let big = try allocator.allocate(payloadBytes: 8 << 20, kind: 1)
        #expect(big % 4096 == 0)
        let p = allocator.payload(of: big)
        memset(p, 0xAB, 8 << 20)
        allocator.release(big)
        let smaller = try allocator.allocate(payloadBytes: 2 << 20, kind: 1)
        #expect(smaller == big)
        // Hole-punched pages read as zeros again.
        let q = allocator.payload(of: smaller)
        #expect(q.load(fromByteOffset: 0, as: UInt64.self) == 0)
        #expect(q.load(fromByteOffset: (2 << 20) - 8, as: UInt64.self) == 0)
        let rest = try allocator.allocate(payloadBytes: 3 << 20, kind: 1)
        #expect(rest > smaller && rest < smaller + (9 << 20))
        allocator.release(smaller)
        allocator.release(rest)
    }

    @Test func releasingAnOwnerReleasesItsDependent() throws {
        let lock = try allocator.allocate(payloadBytes: 48, kind: 2)
        let value = try allocator.allocate(payloadBytes: 16, kind: 5, keepsDependent: true)
        allocator.payload(of: value).storeBytes(of: UInt64(lock), as: UInt64.self)
        allocator.retain(lock)
        allocator.release(lock)
        #expect(allocator.referenceCount(of: lock) == 1)
        allocator.release(value)
        #expect(allocator.referenceCount(of: lock) == 0)
    }

    @Test func exhaustionIsAnErrorNotACrash() throws {
        #expect(throws: SystemError.self) { try allocator.allocate(payloadBytes: 1 << 50, kind: 1) }
    }

    @Test func processReferencesTrackObjects() throws {
        let a = try allocator.allocate(payloadBytes: 8, kind: 9)
        SharedReferences.track(a, holdsReference: true, in: allocator)
        SharedReferences.track(a, holdsReference: false, in: allocator)
        #expect(allocator.referenceCount(of: a) == 1)
        #expect(SharedReferences.objects(referringTo: a) == 2)
        #expect(allocator.retainIfAlive(a, generation: allocator.generation(of: a), kind: 9))
        SharedReferences.track(a, holdsReference: true, in: allocator)  // a decoded handle
        #expect(allocator.referenceCount(of: a) == 1)
        SharedReferences.untrack(a, in: allocator)
        SharedReferences.untrack(a, in: allocator)
        SharedReferences.pin(a)
        SharedReferences.untrack(a, in: allocator)
        #expect(allocator.referenceCount(of: a) == 1, "a sent handle keeps the block")
    }

    @Test func processReferencesAreSafeAcrossThreads() throws {
        let shared = try allocator.allocate(payloadBytes: 8, kind: 9)
        let allocator = self.allocator
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<500 {
                SharedReferences.track(shared, holdsReference: false, in: allocator)
                if let own = try? allocator.allocate(payloadBytes: 8, kind: 9) {
                    SharedReferences.track(own, holdsReference: true, in: allocator)
                    SharedReferences.untrack(own, in: allocator)
                }
                SharedReferences.untrack(shared, in: allocator)
            }
        }
        #expect(SharedReferences.objects(referringTo: shared) == 0)
        #expect(allocator.referenceCount(of: shared) == 1)
        allocator.release(shared)
    }

    @Test func futexWaitTimesOutAndSeesChanges() throws {
        let block = try allocator.allocate(payloadBytes: 4, kind: 1)
        defer { allocator.release(block) }
        let futex = Futex(allocator.payload(of: block).assumingMemoryBound(to: UInt32.self))
        let start = Clock.now()
        #expect(!futex.wait(whileEqualTo: 0, deadline: start + 0.05))
        #expect(Clock.now() - start >= 0.05)
        futex.value = 1
        #expect(futex.wait(whileEqualTo: 0, deadline: Clock.now() + 5))
        #expect(!futex.wait(whileEqualTo: 1, deadline: Clock.now() - 1))
        #expect(futex.wake() == 0)
    }

    @Test func robustMutexLocksTimesOutAndReportsRelock() throws {
        let block = try allocator.allocate(payloadBytes: MemoryLayout<pthread_mutex_t>.size, kind: 1)
        defer { allocator.release(block) }
        let mutex = RobustMutex(allocator.payload(of: block).assumingMemoryBound(to: pthread_mutex_t.self))
        try mutex.initialize()
        #expect(mutex.lock() == .acquired)
        #expect(mutex.tryLock() == .wouldDeadlock)
        #expect(mutex.lock(deadline: Clock.now() + 0.01) == .wouldDeadlock)
        #expect(mutex.unlock())
        #expect(!mutex.unlock())
        #expect(mutex.lock(deadline: Clock.now() + 1) == .acquired)
        #expect(mutex.unlock())
    }
}

/// Directory listing without Foundation's FileManager (kept tiny on purpose).
enum FileManagerFree {
    static func entries(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            names.append(name)
        }
        return names
    }
}
