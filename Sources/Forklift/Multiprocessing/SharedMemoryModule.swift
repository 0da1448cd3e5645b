internal import CLua

/// The kinds of shared blocks (stored in each block's header, checked when a
/// handle is decoded so a handle can never be taken for another type).
enum SharedKind: UInt8 {
    case lock = 1, rlock, semaphore, event, condition, barrier, value, array
    /// Reserved for the Queue's shared state.
    case queue = 20
    // 21: a chunk of a queue's messages (`QueueState.chunkKind`, never a Lua object).
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
        SynchronizeLua.register(lua)
        SharedValueLua.register(lua)
        MultiprocessingModule.register(lua, [("_shared_memory_high_water", highWater)])
    }

    /// `mp._shared_memory_high_water()`: bytes of the arena handed out so far
    /// (tests check that freed blocks are reused).
    static let highWater: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let allocator = allocator(lua) else { return lua.raiseTop }
        lua.push(allocator.highWater)
        return 1
    }

    /// The codec entries of the shared objects (tags 20–39).
    static let sendableTypes: [SendableObjectType] = [
        SharedObjects.sendable(.lock, tag: 20) { _, a, o in SharedObject(payload: a.payload(of: o), offset: o, kind: .lock) },
        SharedObjects.sendable(.rlock, tag: 21) { _, a, o in SharedObject(payload: a.payload(of: o), offset: o, kind: .rlock) },
        SharedObjects.sendable(.semaphore, tag: 22) { _, a, o in SharedObject(payload: a.payload(of: o), offset: o, kind: .semaphore) },
        SharedObjects.sendable(.event, tag: 23) { _, a, o in SharedObject(payload: a.payload(of: o), offset: o, kind: .event) },
        SharedObjects.sendable(.condition, tag: 24) { _, a, o in ConditionBarrierLua.rebuildCondition(a, o) },
        SharedObjects.sendable(.barrier, tag: 25) { _, a, o in SharedObject(payload: a.payload(of: o), offset: o, kind: .barrier) },
        SharedObjects.sendable(.value, tag: 26) { _, a, o in SharedValueLayout.rebuild(a, o, kind: .value) },
        SharedObjects.sendable(.array, tag: 27) { _, a, o in SharedValueLayout.rebuild(a, o, kind: .array) },
    ]

    /// The allocator, or nil after pushing an `OSError` (for constructors:
    /// `guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }`).
    static func allocator(_ lua: Lua) -> SharedAllocator? {
        if let arena = SharedArena.current { return SharedAllocator(arena) }
        ModuleError.push(lua, .osError, "shared memory is unavailable: \(arenaError?.description ?? "no arena")")
        return nil
    }
}
