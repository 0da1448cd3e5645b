internal import CLua
internal import Glibc

/// What the Lua userdata of a shared object holds: where the object's block
/// is in this process, plus what the fast paths need without another lookup.
/// The userdata's own memory stores it; the block stays alive while the
/// userdata does (`SharedReferences`).
struct SharedObject {
    static let magic: UInt64 = 0x5348_4152_4544_4F42  // "SHAREDOB"
    /// Always `magic` (first, so `SharedObjects.get` can check it).
    let magic: UInt64 = SharedObject.magic
    /// The block's payload in this process.
    var payload: UnsafeMutableRawPointer
    /// Value and Array: the elements. Others: same as `payload`.
    var data: UnsafeMutableRawPointer
    /// Value, Array and Condition: the guarding lock's state; nil when raw.
    var lock: UnsafeMutableRawPointer?
    /// Array: the element count; Value: 1.
    var count: Int
    /// The block's offset in the arena: its identity in every process.
    var offset: Int
    var kind: SharedKind
    var typecode: Typecode
    /// Condition: the lock is an RLock.
    var lockIsRecursive: Bool

    init(payload: UnsafeMutableRawPointer, offset: Int, kind: SharedKind) {
        self.payload = payload
        self.data = payload
        self.lock = nil
        self.count = 1
        self.offset = offset
        self.kind = kind
        self.typecode = .d
        self.lockIsRecursive = false
    }

    var sharedLock: SharedLock? { lock.map(SharedLock.init) }
}

/// Creating, finding and sending the userdata of shared objects.
enum SharedObjects {
    /// The metatable name (`__name`) of each kind, as the codec sees it.
    static func metatableName(_ kind: SharedKind) -> String {
        switch kind {
        case .lock: return "multiprocessing.Lock"
        case .rlock: return "multiprocessing.RLock"
        case .semaphore: return "multiprocessing.Semaphore"
        case .event: return "multiprocessing.Event"
        case .condition: return "multiprocessing.Condition"
        case .barrier: return "multiprocessing.Barrier"
        case .value: return "multiprocessing.Value"
        case .array: return "multiprocessing.Array"
        case .queue: return "multiprocessing.SharedQueueState"
        }
    }

    /// Builders of each kind's metatable (set by the kinds' Lua bindings):
    /// called with the new metatable on top of the stack.
    static func fillMetatable(_ kind: SharedKind, _ lua: Lua) {
        switch kind {
        case .lock, .rlock, .semaphore, .event, .condition, .barrier: SynchronizeLua.fillMetatable(kind, lua)
        case .value, .array: SharedValueLua.fillMetatable(kind, lua)
        case .queue: break
        }
    }

    /// Pushes the metatable of `kind`, creating it in this state the first time.
    static func pushMetatable(_ lua: Lua, _ kind: SharedKind) {
        if luaL_newmetatable(lua.L, metatableName(kind)) != 0 {
            lua.push(function: collect)
            lua.setField(-2, "__gc")
            lua.push(function: equal)
            lua.setField(-2, "__eq")
            // getmetatable(obj) gives this string: the metamethods only ever
            // see their own kind of userdata.
            lua.push(metatableName(kind))
            lua.setField(-2, "__metatable")
            fillMetatable(kind, lua)
        }
    }

    /// Pushes a new userdata for `object`. `holdsReference`: the caller took
    /// this process's reference on the block already (fresh or decoded).
    static func push(_ lua: Lua, _ object: SharedObject, holdsReference: Bool, allocator: SharedAllocator) {
        guard let memory = forklift_newuserdata(lua.L, MemoryLayout<SharedObject>.size) else { return }
        memory.initializeMemory(as: SharedObject.self, to: object)
        SharedReferences.track(object.offset, holdsReference: holdsReference, in: allocator)
        pushMetatable(lua, object.kind)
        lua_setmetatable(lua.L, -2)
    }

    /// The object at `index` if it is a shared object of `kind`
    /// (non-raising; for methods, which Lua lets anyone call with anything).
    /// Only this file's code writes such userdata, and it starts with a magic
    /// word, so no other userdata passes for one.
    @inline(__always)
    static func get(_ lua: Lua, _ index: Int32, _ kind: SharedKind) -> SharedObject? {
        guard let object = get(lua, index), object.kind == kind else { return nil }
        return object
    }

    /// The shared object of any kind at `index`.
    @inline(__always)
    static func get(_ lua: Lua, _ index: Int32) -> SharedObject? {
        // A light userdata has no length, anything else no address: two calls decide.
        guard let memory = lua_touserdata(lua.L, index), lua_rawlen(lua.L, index) == MemoryLayout<SharedObject>.size,
            memory.load(as: UInt64.self) == SharedObject.magic
        else { return nil }
        return memory.load(as: SharedObject.self)
    }

    /// The object whose metamethod is running (argument 1 is guaranteed to be
    /// the right kind, since its metatable is hidden from Lua).
    @inline(__always) static func unchecked(_ L: OpaquePointer, _ index: Int32 = 1) -> SharedObject? {
        lua_touserdata(L, index)?.load(as: SharedObject.self)
    }

    /// `__eq`: two Lua objects for the same shared object (say, one received
    /// twice through a pipe) are equal. A raw view (`get_obj`) is not its Value.
    static let equal: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let a = get(lua, 1), let b = get(lua, 2) else {
            lua.push(false)
            return 1
        }
        lua.push(a.offset == b.offset && a.kind == b.kind && (a.lock == nil) == (b.lock == nil))
        return 1
    }

    /// `__gc`: this Lua object no longer refers to the block.
    static let collect: LuaCFunction = { L in
        guard let L, let object = unchecked(L), let arena = SharedArena.current else { return 0 }
        SharedReferences.untrack(object.offset, in: SharedAllocator(arena))
        return 0
    }

    // MARK: Handles

    /// The codec's entry for `kind`: a handle is (offset, generation), and the
    /// receiver rebuilds the object from the block (`rebuild`).
    static func sendable(
        _ kind: SharedKind, tag: UInt8,
        rebuild: @escaping @Sendable (Lua, SharedAllocator, Int) -> SharedObject?
    ) -> SendableObjectType {
        SendableObjectType(
            metatableName: metatableName(kind), tag: tag,
            encode: { lua, index, out in
                guard let object = unchecked(lua.L, index), let arena = SharedArena.current else {
                    return "not a shared object"
                }
                SharedReferences.pin(object.offset)
                out.appendVarint(UInt64(object.offset))
                out.append(SharedAllocator(arena).generation(of: object.offset))
                return nil
            },
            decode: { lua, reader in
                guard let arena = SharedArena.current else { return "no shared memory in this process" }
                let allocator = SharedAllocator(arena)
                guard let offset = try? reader.readVarint(), let generation = try? reader.read(UInt32.self),
                    offset < UInt64(arena.size)
                else { return "truncated handle" }
                guard allocator.retainIfAlive(Int(offset), generation: generation, kind: kind.rawValue) else {
                    return "the shared object no longer exists"
                }
                guard let object = rebuild(lua, allocator, Int(offset)) else {
                    allocator.release(Int(offset))
                    return "corrupt shared object"
                }
                push(lua, object, holdsReference: true, allocator: allocator)
                return nil
            })
    }
}
