internal import CSystem
internal import Glibc

/// Which shared blocks this process holds, and how many Lua objects in it
/// refer to each. The process holds one reference on the block's count
/// (in the arena) while any of its Lua objects refers to it.
///
/// Why a table rather than a reference per Lua object: a forked child
/// inherits its parent's Lua objects without creating them, so on fork the
/// child takes its own reference for every block in its copy of the table.
/// A parent that lets go of an object therefore never frees memory a child
/// still uses. A process releases its references when it exits through
/// `releaseAll` (the process runtime calls it before `_exit`); one killed by
/// a signal leaks its references until the whole tree exits, when the kernel
/// frees the arena. So does an exiting process for the blocks it sent: a
/// handle may still sit unread in a queue or pipe, and nothing says when it
/// will be read (if ever), so the reference stays with the block.
enum SharedReferences {
    private struct Entry {
        /// Lua objects of this process referring to the block.
        var objects: Int
        /// This process sent a handle to the block: its reference is never
        /// dropped (not even at exit), so a handle in flight never names
        /// freed memory.
        var pinned: Bool
    }

    nonisolated(unsafe) private static var entries: [Int: Entry] = [:]
    nonisolated(unsafe) private static var forkHandlerInstalled = false
    /// Guards `entries` (an embedder may run Lua states on several threads).
    private static let guardian = ProcessMutex()

    /// A new Lua object refers to `offset`. `holdsReference`: the caller
    /// already took a reference on the block for this process (a fresh
    /// allocation or a handle decoded with `retainIfAlive`).
    static func track(_ offset: Int, holdsReference: Bool, in allocator: SharedAllocator) {
        guardian.locked { trackLocked(offset, holdsReference: holdsReference, in: allocator) }
    }

    private static func trackLocked(_ offset: Int, holdsReference: Bool, in allocator: SharedAllocator) {
        if var entry = entries[offset] {
            // The process already holds its one reference.
            if holdsReference { allocator.release(offset) }
            entry.objects += 1
            entries[offset] = entry
        } else {
            if !holdsReference { allocator.retain(offset) }
            entries[offset] = Entry(objects: 1, pinned: false)
        }
    }

    /// A Lua object referring to `offset` was collected.
    static func untrack(_ offset: Int, in allocator: SharedAllocator) {
        guardian.locked { untrackLocked(offset, in: allocator) }
    }

    private static func untrackLocked(_ offset: Int, in allocator: SharedAllocator) {
        guard var entry = entries[offset], entry.objects > 0 else { return }
        entry.objects -= 1
        if entry.objects == 0 && !entry.pinned {
            entries[offset] = nil
            allocator.release(offset)
        } else {
            entries[offset] = entry
        }
    }

    /// A handle to `offset` is being sent from this process.
    static func pin(_ offset: Int) {
        guardian.locked { entries[offset]?.pinned = true }
        captured?.append(offset)
    }

    /// While not nil, `pin` also records here the blocks a message being
    /// encoded names, so that a transport that keeps messages in shared
    /// memory (a queue) can hold them alive until they are received.
    nonisolated(unsafe) static var captured: [Int]?

    /// Number of Lua objects of this process referring to `offset` (tests).
    static func objects(referringTo offset: Int) -> Int { guardian.locked { entries[offset]?.objects ?? 0 } }

    /// Drops the references this process holds, except those of blocks it
    /// sent (see above); call right before `_exit`.
    static func releaseAll() {
        guard let arena = SharedArena.current else { return }
        let allocator = SharedAllocator(arena)
        let held = guardian.locked {
            let unsent = entries.filter { !$0.value.pinned }.map(\.key)
            entries = [:]
            return unsent
        }
        for offset in held { allocator.release(offset) }
    }

    /// In a freshly forked child: take a reference for every block the
    /// inherited Lua objects refer to; the parent's pins are not ours.
    private static func forkedChild() {
        forklift_forget_thread_id()
        guardian.reinitializeAfterFork()
        guard let arena = SharedArena.current else { return }
        let allocator = SharedAllocator(arena)
        var inherited: [Int: Entry] = [:]
        for (offset, entry) in entries where entry.objects > 0 {
            allocator.retain(offset)
            inherited[offset] = Entry(objects: entry.objects, pinned: false)
        }
        entries = inherited
    }

    /// Installs the fork hook once (before the first fork that matters:
    /// the module calls it when it creates the arena).
    static func installForkHandler() {
        guardian.locked {
            guard !forkHandlerInstalled else { return }
            forkHandlerInstalled = true
            pthread_atfork(nil, nil, { SharedReferences.forkedChild() })
        }
    }
}
