internal import CLua

/// The kinds of shared blocks (stored in each block's header, checked when a
/// handle is decoded so a handle can never be taken for another type).
enum SharedKind: UInt8 {
    case lock = 1, rlock, semaphore, event, condition, barrier, value, array
    /// Reserved for the Queue's shared state.
    case queue = 20
}

/// The shared-memory part of the `multiprocessing` module: makes sure the
/// arena exists before any worker is forked, and registers the constructors.
enum SharedMemoryModule {
    /// Why the arena could not be made (then every constructor raises this).
    nonisolated(unsafe) static var arenaError: SystemError?

    /// Part of `MultiprocessingModule.parts`.
    static func register(_ lua: Lua) {
        do {
            _ = try SharedArena.ensure()
            SharedReferences.installForkHandler()
        } catch {
            arenaError = error
        }
    }

    /// The allocator, or nil after pushing an `OSError` (for constructors:
    /// `guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }`).
    static func allocator(_ lua: Lua) -> SharedAllocator? {
        if let arena = SharedArena.current { return SharedAllocator(arena) }
        ModuleError.push(lua, .osError, "shared memory is unavailable: \(arenaError?.description ?? "no arena")")
        return nil
    }
}
