internal import CSystem
internal import Glibc

/// The allocator inside the shared arena, usable from any process of the tree
/// (its state lives in the arena's first page, guarded by a robust mutex).
///
/// Blocks are 64-byte aligned (no two shared objects share a cache line),
/// in power-of-two size classes from 64 bytes to 1 MiB, recycled through one
/// free list per class; larger blocks are whole pages, recycled first-fit,
/// and their pages go back to the kernel when freed. Each block starts with a
/// 16-byte header:
///
/// | offset | field |
/// |---|---|
/// | 0 | reference count (UInt32, atomic) |
/// | 4 | generation (UInt32): changes at every allocation, so a stale handle is detected |
/// | 8 | size class (UInt8, 255 = large) |
/// | 9 | kind (UInt8, the owner's type) |
/// | 10 | flags (UInt8): bit 0 = the payload's first 8 bytes name a block this one keeps alive |
/// | 12 | pages (UInt32, large blocks) |
///
/// A process that dies inside the allocator leaves at most a leaked block:
/// every list update is committed by a single store.
struct SharedAllocator: Sendable {
    let arena: SharedArena

    init(_ arena: SharedArena) { self.arena = arena }

    static let headerSize = 16
    static let pageSize = 4096
    static let smallClasses = 15  // 64 B << 0 ... 64 B << 14 = 1 MiB
    static let largeClass: UInt8 = 255
    static let firstBlock = pageSize
    static let keepsDependent: UInt8 = 1

    private static let magic: UInt64 = 0x464B_4C46_4152_4E41  // "FKLFARNA"
    private static let mutexOffset = 64
    private static let bumpOffset = 128
    private static let generationOffset = 136
    private static let smallListsOffset = 256
    private static let largeListOffset = 384

    private var mutex: RobustMutex {
        RobustMutex(arena.address(Self.mutexOffset).assumingMemoryBound(to: pthread_mutex_t.self))
    }
    private func word64(_ offset: Int) -> UnsafeMutablePointer<UInt64> {
        arena.address(offset).assumingMemoryBound(to: UInt64.self)
    }
    private func word32(_ offset: Int) -> UnsafeMutablePointer<UInt32> {
        arena.address(offset).assumingMemoryBound(to: UInt32.self)
    }

    /// Writes the header page of a fresh arena.
    func format() throws(SystemError) {
        try mutex.initialize()
        word64(Self.bumpOffset).pointee = UInt64(Self.firstBlock)
        word64(0).pointee = Self.magic
    }

    // MARK: Blocks

    /// Allocates a block whose payload (zeroed) has at least `payloadBytes`,
    /// with reference count 1. Returns its offset.
    func allocate(payloadBytes: Int, kind: UInt8, keepsDependent: Bool = false) throws(SystemError) -> Int {
        let total = payloadBytes + Self.headerSize
        let offset: Int
        let sizeClass: UInt8
        var pages: UInt32 = 0
        do {
            _ = mutex.lock()
            defer { mutex.unlock() }
            if let c = Self.sizeClass(for: total) {
                sizeClass = UInt8(c)
                offset = try takeSmall(c)
            } else {
                sizeClass = Self.largeClass
                let needed = (total + Self.pageSize - 1) / Self.pageSize
                guard needed <= Int(UInt32.max) else { throw SystemError("shared memory allocation", errno: ENOMEM) }
                pages = UInt32(needed)
                offset = try takeLarge(pages: needed)
            }
            let generation = forklift_fetch_add32(word32(Self.generationOffset), 1) &+ 1
            word32(offset + 4).pointee = generation
        }
        let block = arena.address(offset)
        block.storeBytes(of: sizeClass, toByteOffset: 8, as: UInt8.self)
        block.storeBytes(of: kind, toByteOffset: 9, as: UInt8.self)
        block.storeBytes(of: keepsDependent ? Self.keepsDependent : 0, toByteOffset: 10, as: UInt8.self)
        block.storeBytes(of: pages, toByteOffset: 12, as: UInt32.self)
        // Small blocks may be recycled; a recycled large block was hole-punched
        // except its first page.
        let dirty = sizeClass == Self.largeClass ? Self.pageSize : (64 << Int(sizeClass))
        memset(block + Self.headerSize, 0, min(dirty, total) - Self.headerSize)
        forklift_store32(word32(offset), 1)
        return offset
    }

    static func sizeClass(for total: Int) -> Int? {
        var c = 0
        while c < smallClasses {
            if total <= 64 << c { return c }
            c += 1
        }
        return nil
    }

    private func bump(_ bytes: Int, alignment: Int) throws(SystemError) -> Int {
        let current = Int(word64(Self.bumpOffset).pointee)
        let start = (current + alignment - 1) / alignment * alignment
        guard start + bytes <= arena.size else { throw SystemError("shared memory allocation", errno: ENOMEM) }
        word64(Self.bumpOffset).pointee = UInt64(start + bytes)
        return start
    }

    private func takeSmall(_ c: Int) throws(SystemError) -> Int {
        let head = word64(Self.smallListsOffset + 8 * c)
        let first = Int(head.pointee)
        if first != 0 {
            head.pointee = word64(first + Self.headerSize).pointee
            return first
        }
        return try bump(64 << c, alignment: 64)
    }

    private func takeLarge(pages needed: Int) throws(SystemError) -> Int {
        var link = word64(Self.largeListOffset)
        while link.pointee != 0 {
            let candidate = Int(link.pointee)
            let pages = Int(word32(candidate + 12).pointee)
            let next = word64(candidate + Self.headerSize).pointee
            if pages >= needed {
                if pages > needed {
                    // The rest stays free, in the candidate's place in the list.
                    let rest = candidate + needed * Self.pageSize
                    word32(rest + 12).pointee = UInt32(pages - needed)
                    word64(rest + Self.headerSize).pointee = next
                    link.pointee = UInt64(rest)
                } else {
                    link.pointee = next
                }
                return candidate
            }
            link = word64(candidate + Self.headerSize)
        }
        return try bump(needed * Self.pageSize, alignment: Self.pageSize)
    }

    private func free(_ offset: Int) {
        let sizeClass = arena.address(offset).load(fromByteOffset: 8, as: UInt8.self)
        if sizeClass == Self.largeClass {
            let pages = Int(word32(offset + 12).pointee)
            arena.punchHole(offset: offset + Self.pageSize, length: (pages - 1) * Self.pageSize)
        }
        _ = mutex.lock()
        defer { mutex.unlock() }
        let head = word64(sizeClass == Self.largeClass ? Self.largeListOffset : Self.smallListsOffset + 8 * Int(sizeClass))
        word64(offset + Self.headerSize).pointee = head.pointee
        head.pointee = UInt64(offset)
    }

    // MARK: References

    /// True when `offset` can name a block (inside the allocated part, aligned).
    func isPlausibleBlock(_ offset: Int) -> Bool {
        offset >= Self.firstBlock && offset % 64 == 0
            && offset + Self.headerSize <= Int(forklift_load64(word64(Self.bumpOffset)))
    }

    func generation(of offset: Int) -> UInt32 { forklift_load32(word32(offset + 4)) }
    func kind(of offset: Int) -> UInt8 { arena.address(offset).load(fromByteOffset: 9, as: UInt8.self) }
    func referenceCount(of offset: Int) -> UInt32 { forklift_load32(word32(offset)) }
    /// The payload's address in this process.
    func payload(of offset: Int) -> UnsafeMutableRawPointer { arena.address(offset + Self.headerSize) }

    func retain(_ offset: Int) { forklift_fetch_add32(word32(offset), 1) }

    /// Takes a reference on a block another process named by (offset,
    /// generation), unless it was freed meanwhile (then false).
    func retainIfAlive(_ offset: Int, generation: UInt32, kind: UInt8) -> Bool {
        // Check the header before touching the count, so that a corrupt or
        // forged handle (pointing into some block's data) changes nothing.
        guard isPlausibleBlock(offset), self.generation(of: offset) == generation, self.kind(of: offset) == kind else {
            return false
        }
        let count = word32(offset)
        var seen = forklift_load32(count)
        while seen > 0 && seen < UInt32.max {
            if forklift_cas32(count, &seen, seen + 1) {
                if self.generation(of: offset) == generation && self.kind(of: offset) == kind { return true }
                release(offset)
                return false
            }
        }
        return false
    }

    /// Drops a reference; the last one frees the block (and releases the
    /// block it keeps alive, if any).
    func release(_ offset: Int) {
        var offset = offset
        while forklift_fetch_sub32(word32(offset), 1) == 1 {
            let flags = arena.address(offset).load(fromByteOffset: 10, as: UInt8.self)
            let dependent = flags & Self.keepsDependent != 0 ? Int(word64(offset + Self.headerSize).pointee) : 0
            free(offset)
            guard dependent != 0 else { return }
            offset = dependent
        }
    }

    /// Bytes handed out so far (the bump pointer), for tests and diagnostics.
    var highWater: Int { Int(forklift_load64(word64(Self.bumpOffset))) }
}
