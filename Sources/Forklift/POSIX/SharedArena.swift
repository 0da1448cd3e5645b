internal import CSystem
internal import Glibc

/// The one shared-memory region of a Forklift process tree.
///
/// It is an anonymous memfd (nothing ever appears in /dev/shm), made sparse
/// and large, mapped `MAP_SHARED` before any worker is forked, so that every
/// descendant sees it at the same address and objects are named by their byte
/// offset. The kernel frees it when the last process mapping it exits, also
/// after SIGKILL. Blocks are handed out by `SharedAllocator` (in the arena).
///
/// Sendable: its fields never change after creation, and what it points to
/// is shared memory whose users synchronise through it.
final class SharedArena: @unchecked Sendable {
    /// The arena of this process tree, once `ensure()` made it.
    nonisolated(unsafe) private(set) static var current: SharedArena?

    /// Start of the mapping in this process.
    let base: UnsafeMutableRawPointer
    /// Bytes mapped (pages are only backed once touched).
    let size: Int
    /// The memfd (close-on-exec; kept open for punching holes and for a
    /// start method that passes it on).
    let descriptor: FileDescriptor

    private init(base: UnsafeMutableRawPointer, size: Int, descriptor: FileDescriptor) {
        self.base = base
        self.size = size
        self.descriptor = descriptor
    }

    /// Sizes tried, largest first: address space is cheap, but some kernels
    /// or containers refuse a 64 GiB file.
    private static let candidateSizes: [Int] = [64 << 30, 16 << 30, 4 << 30, 1 << 30]

    /// `MFD_CLOEXEC` (linux/memfd.h; not visible to Swift).
    private static let memfdCloseOnExec: UInt32 = 1

    /// Returns this process tree's arena, creating and formatting it the first
    /// time (call it before forking). The corresponding C functions are
    /// `memfd_create`, `ftruncate` and `mmap`.
    static func ensure() throws(SystemError) -> SharedArena {
        try creation.locked { () throws(SystemError) -> SharedArena in try create() }
    }

    /// Serialises creation (an embedder may open Lua states on several threads).
    private static let creation = ProcessMutex()

    private static func create() throws(SystemError) -> SharedArena {
        if let current { return current }
        let fd = try retryingInterrupts("memfd_create") { forklift_memfd_create("forklift-shared", memfdCloseOnExec) }
        var lastError = SystemError("ftruncate", errno: ENOMEM)
        for size in candidateSizes {
            if ftruncate(fd, off_t(size)) != 0 {
                lastError = SystemError("ftruncate")
                continue
            }
            guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0),
                p != MAP_FAILED
            else {
                lastError = SystemError("mmap")
                continue
            }
            let arena = SharedArena(base: p, size: size, descriptor: FileDescriptor(rawValue: fd))
            do {
                try SharedAllocator(arena).format()
            } catch {
                munmap(p, size)
                Glibc.close(fd)
                throw error
            }
            current = arena
            return arena
        }
        Glibc.close(fd)
        throw lastError
    }

    /// Maps the arena a spawning parent passed down as descriptor `fd` (a
    /// process started by exec inherits no mapping, only the memfd). It may
    /// land at another address: objects are named by offset.
    static func adopt(descriptor fd: Int32) throws(SystemError) -> SharedArena {
        if let current { return current }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemError("fstat") }
        let size = Int(info.st_size)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0), p != MAP_FAILED else {
            throw SystemError("mmap")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let arena = SharedArena(base: p, size: size, descriptor: FileDescriptor(rawValue: fd))
        current = arena
        return arena
    }

    /// The address of `offset` in this process.
    @inline(__always) func address(_ offset: Int) -> UnsafeMutableRawPointer { base + offset }

    /// Gives the pages of `[offset, offset+length)` back to the kernel (they
    /// read as zeros afterwards). The corresponding C function is `fallocate`.
    func punchHole(offset: Int, length: Int) {
        guard length > 0 else { return }
        if forklift_punch_hole(descriptor.rawValue, Int64(offset), Int64(length)) != 0 {
            // Older kernels or filesystems without hole punching: MADV_REMOVE does the same on shmem.
            madvise(base + offset, length, MADV_REMOVE)
        }
    }
}
