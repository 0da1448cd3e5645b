internal import CLua
internal import CSystem
internal import Glibc

/// What a queue's Lua userdata holds: where the shared state is, and this
/// object's own state (Python's `close()` is per process: it closes this
/// object, the queue goes on for the others).
struct QueueObject {
    static let magic: UInt64 = 0x4A42_4F45_5545_5551  // "QUEUEOBJ"
    /// Always `magic`, so that no other userdata passes for a queue.
    let magic: UInt64 = QueueObject.magic
    var offset: Int
    var kind: QueueState.Kind
    var closed = false
    /// This process's slot in the writer table (-1: none yet).
    var writerSlot = -1

    static func metatableName(_ kind: QueueState.Kind) -> String {
        switch kind {
        case .queue: return "multiprocessing.Queue"
        case .joinable: return "multiprocessing.JoinableQueue"
        case .simple: return "multiprocessing.SimpleQueue"
        }
    }

    static func typeName(_ kind: QueueState.Kind) -> String {
        switch kind {
        case .queue: return "Queue"
        case .joinable: return "JoinableQueue"
        case .simple: return "SimpleQueue"
        }
    }

    /// The queue object at `index`, or nil when it is none.
    @inline(__always) static func at(_ lua: Lua, _ index: Int32) -> UnsafeMutablePointer<QueueObject>? {
        guard lua_type(lua.L, index) == LUA_TUSERDATA, let memory = lua_touserdata(lua.L, index),
            lua_rawlen(lua.L, index) == MemoryLayout<QueueObject>.size,
            memory.load(as: UInt64.self) == QueueObject.magic
        else { return nil }
        return memory.assumingMemoryBound(to: QueueObject.self)
    }

    /// Pushes a new userdata for the queue at `offset`. `holdsReference`:
    /// the caller already took this process's reference on the block.
    static func push(_ lua: Lua, offset: Int, kind: QueueState.Kind, holdsReference: Bool, allocator: SharedAllocator) {
        guard let memory = forklift_newuserdata(lua.L, MemoryLayout<QueueObject>.size) else { return }
        memory.initializeMemory(as: QueueObject.self, repeating: QueueObject(offset: offset, kind: kind), count: 1)
        SharedReferences.track(offset, holdsReference: holdsReference, in: allocator)
        if luaL_newmetatable(lua.L, metatableName(kind)) != 0 { QueueLua.fillMetatable(lua, kind) }
        lua_setmetatable(lua.L, -2)
    }
}

/// `mp.Queue`, `mp.JoinableQueue`, `mp.SimpleQueue`: constructors, methods
/// and handles (API.md §2 Queues; semantics in docs/queues.md).
enum QueueLua {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("Queue", newQueue), ("JoinableQueue", newJoinableQueue), ("SimpleQueue", newSimpleQueue),
            ("_queue_die", QueueFaults.die), ("_queue_in_flight", QueueFaults.inFlight),
        ])
    }

    /// The codec entries: a queue crosses as (offset, generation).
    static let sendables: [SendableObjectType] = [
        sendable(.queue, tag: 10), sendable(.joinable, tag: 11), sendable(.simple, tag: 12),
    ]

    static let newQueue: LuaCFunction = { L in construct(L, .queue) }
    static let newJoinableQueue: LuaCFunction = { L in construct(L, .joinable) }
    static let newSimpleQueue: LuaCFunction = { L in construct(L, .simple) }

    private static func construct(_ L: OpaquePointer?, _ kind: QueueState.Kind) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        var maxsize = 0
        if kind != .simple && !lua.isNoneOrNil(1) {
            var index: Int32 = 1
            if lua.type(at: 1) == LUA_TTABLE {
                lua.getField(1, "maxsize")
                index = lua.top
            }
            guard lua.type(at: index) == LUA_TNUMBER, let n = lua.toInteger(index) else {
                return ModuleError.raise(
                    lua, .valueError, "\(QueueObject.typeName(kind)): maxsize must be an integer, got \(lua.typeName(at: index))")
            }
            maxsize = Int(n)
        }
        guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }
        do throws(SystemError) {
            let state = try QueueState.create(allocator, kind: kind, maxsize: maxsize)
            QueueObject.push(lua, offset: state.offset, kind: kind, holdsReference: true, allocator: allocator)
            return 1
        } catch {
            return ModuleError.raise(lua, .osError, "cannot create a \(QueueObject.typeName(kind)): \(error)")
        }
    }

    static func fillMetatable(_ lua: Lua, _ kind: QueueState.Kind) {
        lua.newTable()
        var methods: [(String, LuaCFunction)] = [
            ("put", put), ("get", get), ("empty", empty), ("close", close),
        ]
        if kind != .simple {
            methods += [
                ("put_nowait", putNowait), ("get_nowait", getNowait), ("full", full), ("qsize", qsize),
                ("join_thread", nothing), ("cancel_join_thread", nothing),
            ]
        }
        if kind == .joinable { methods += [("task_done", taskDone), ("join", join)] }
        MultiprocessingModule.register(lua, methods)
        lua.setField(-2, "__index")
        MultiprocessingModule.register(lua, [
            ("__gc", collect), ("__close", close), ("__tostring", describe), ("__eq", equal),
        ])
        lua.push(metatableName(kind))
        lua.setField(-2, "__name")
    }

    private static func metatableName(_ kind: QueueState.Kind) -> String { QueueObject.metatableName(kind) }

    // MARK: Arguments

    /// `self` of a method, open, with its shared state; nil after pushing the error.
    @inline(__always) private static func open(_ lua: Lua, _ method: String)
        -> (UnsafeMutablePointer<QueueObject>, QueueState)?
    {
        guard let object = QueueObject.at(lua, 1), let arena = SharedArena.current else {
            ModuleError.push(lua, .valueError, "\(method) expects a queue (use q:\(method)(...))")
            return nil
        }
        if object.pointee.closed {
            ModuleError.push(lua, .stateError, "\(QueueObject.typeName(object.pointee.kind)) is closed")
            return nil
        }
        return (object, QueueState(arenaBase: arena.base, offset: object.pointee.offset))
    }

    /// Python's `(block=True, timeout=None)` or Lua's `([timeout])` from
    /// argument `index`, also as `(nil, timeout)` or `{block=, timeout=}`;
    /// nil after pushing a `ValueError`.
    private static func blocking(_ lua: Lua, _ index: Int32) -> Blocking? {
        if lua.type(at: index) == LUA_TTABLE {
            lua.getField(index, "block")
            lua.getField(index, "timeout")
            let block = lua.isNil(-2) || lua.toBool(-2)
            let result = timeout(lua, lua.top, block: block)
            if result != nil { lua.pop(2) }
            return result
        }
        var block = true
        var timeoutIndex = index
        if lua.type(at: index) == LUA_TBOOLEAN {
            block = lua.toBool(index)
            timeoutIndex = index + 1
        } else if lua.isNoneOrNil(index) {
            timeoutIndex = index + 1
        }
        return timeout(lua, timeoutIndex, block: block)
    }

    private static func timeout(_ lua: Lua, _ index: Int32, block: Bool) -> Blocking? {
        if !block { return .never }
        if lua.isNoneOrNil(index) { return .forever }
        guard lua.type(at: index) == LUA_TNUMBER, let t = lua.toNumber(index), t >= 0, !t.isNaN else {
            ModuleError.push(lua, .valueError, "timeout must be a non-negative number or nil")
            return nil
        }
        return .until(Clock.now() + t)
    }

    // MARK: Methods

    private static func putValue(_ lua: Lua, _ blocking: Blocking?) -> Int32 {
        guard let (object, state) = open(lua, "put") else { return lua.raiseTop }
        guard let blocking else { return lua.raiseTop }
        if lua.top < 2 { lua.top = 2 }  // q:put() puts nil, as a missing argument is nil in Lua
        let pid = forklift_thread_id()
        do throws(NotSendableError) {
            let failure: QueueFailure? = try QueueMessage.withMessage(lua, at: 2) { prefix, body, references in
                do throws(QueueFailure) {
                    try state.put(
                        prefix, body, references: references, writerSlot: &object.pointee.writerSlot, pid: pid,
                        blocking: blocking,
                        interrupted: { SynchronizeLua.interrupted(lua.L) })
                    return nil
                } catch {
                    return error
                }
            }
            guard let failure else { return 0 }
            return raise(lua, failure)
        } catch {
            return ModuleError.raise(lua, .notSendable, error.description)
        }
    }

    static let put: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        return putValue(lua, QueueObject.at(lua, 1)?.pointee.kind == .simple ? .forever : blocking(lua, 3))
    }

    static let putNowait: LuaCFunction = { L in
        guard let L else { return 0 }
        return putValue(Lua(L), .never)
    }

    private static func getValue(_ lua: Lua, _ blocking: Blocking?) -> Int32 {
        guard let (_, state) = open(lua, "get") else { return lua.raiseTop }
        guard let blocking else { return lua.raiseTop }
        do throws(QueueFailure) {
            let problem: DecodeError? = try state.get(
                pid: forklift_thread_id(), blocking: blocking, interrupted: { SynchronizeLua.interrupted(lua.L) }
            ) { message in
                do throws(DecodeError) {
                    try QueueMessage.push(lua, message)
                    return nil
                } catch {
                    return error
                }
            }
            if let problem { return ModuleError.raise(lua, .valueError, "malformed queue message: \(problem)") }
            return 1
        } catch {
            return raise(lua, error)
        }
    }

    static let get: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        return getValue(lua, QueueObject.at(lua, 1)?.pointee.kind == .simple ? .forever : blocking(lua, 2))
    }

    static let getNowait: LuaCFunction = { L in
        guard let L else { return 0 }
        return getValue(Lua(L), .never)
    }

    private static func raise(_ lua: Lua, _ failure: QueueFailure) -> Int32 {
        switch failure {
        case .empty: return ModuleError.raise(lua, .empty, "queue is empty")
        case .full: return ModuleError.raise(lua, .full, "queue is full")
        case .endOfFile:
            return ModuleError.raise(lua, .eof, "queue is empty and closed, and no process that put to it is left")
        case .memory(let error): return ModuleError.raise(lua, .osError, "queue: no shared memory for the message: \(error)")
        case .tooLarge: return ModuleError.raise(lua, .valueError, "queue: a message is limited to 4 GiB")
        case .interrupted: return 0  // the Ctrl-C hook raises "interrupted!" on the way back to Lua
        }
    }

    static let empty: LuaCFunction = { L in query(L, "empty") { lua, state in lua.push(state.count == 0) } }
    static let full: LuaCFunction = { L in query(L, "full") { lua, state in lua.push(state.isFull) } }
    static let qsize: LuaCFunction = { L in query(L, "qsize") { lua, state in lua.push(state.count) } }

    /// `q:empty()`, `q:full()`, `q:qsize()`: one reading of the queue's
    /// state, pushed under its lock.
    private static func query(_ L: OpaquePointer?, _ name: String, _ push: (Lua, QueueState) -> Void) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let (_, state) = open(lua, name) else { return lua.raiseTop }
        state.withLock { push(lua, state) }
        return 1
    }

    /// `q:close()`: this process will neither put nor get through this object
    /// again; readers elsewhere may see `EOF` once every writer is gone.
    static let close: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let object = QueueObject.at(lua, 1), let arena = SharedArena.current else {
            return ModuleError.raise(lua, .valueError, "close expects a queue (use q:close())")
        }
        if object.pointee.closed { return 0 }
        object.pointee.closed = true
        QueueState(allocator: SharedAllocator(arena), offset: object.pointee.offset).close(pid: forklift_thread_id())
        return 0
    }

    static let nothing: LuaCFunction = { _ in 0 }

    static let taskDone: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let (_, state) = open(lua, "task_done") else { return lua.raiseTop }
        if !state.taskDone() { return ModuleError.raise(lua, .valueError, "task_done() called too many times") }
        return 0
    }

    /// `q:join([timeout])`: true once every item put has been marked done
    /// (false when the timeout passed first).
    static let join: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let (_, state) = open(lua, "join") else { return lua.raiseTop }
        guard let blocking = blocking(lua, 2) else { return lua.raiseTop }
        lua.push(state.join(deadline: blocking.deadline) { SynchronizeLua.interrupted(L) })
        return 1
    }

    // MARK: Metamethods

    static let collect: LuaCFunction = { L in
        guard let L, let arena = SharedArena.current else { return 0 }
        let lua = Lua(L)
        guard let object = QueueObject.at(lua, 1), object.pointee.offset != 0 else { return 0 }
        let offset = object.pointee.offset
        if object.pointee.writerSlot >= 0 && SharedReferences.objects(referringTo: offset) == 1 {
            // This process can no longer put: it stops counting as a writer.
            let state = QueueState(allocator: SharedAllocator(arena), offset: offset)
            state.withLock { state.writers.close(pid: forklift_thread_id()) }
        }
        SharedReferences.untrack(offset, in: SharedAllocator(arena))
        object.pointee.offset = 0
        return 0
    }

    static let describe: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let object = QueueObject.at(lua, 1) else { return 0 }
        let state = object.pointee.closed ? ", closed" : ""
        lua.push("\(QueueObject.typeName(object.pointee.kind))(@\(object.pointee.offset)\(state))")
        return 1
    }

    /// Two objects are equal when they are the same shared queue (one may
    /// have arrived as a handle).
    static let equal: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        let a = QueueObject.at(lua, 1), b = QueueObject.at(lua, 2)
        lua.push(a != nil && a?.pointee.offset == b?.pointee.offset)
        return 1
    }

    // MARK: Handles

    private static func sendable(_ kind: QueueState.Kind, tag: UInt8) -> SendableObjectType {
        SendableObjectType(
            metatableName: QueueObject.metatableName(kind), tag: tag,
            encode: { lua, index, out in
                guard let object = QueueObject.at(lua, index), object.pointee.offset != 0,
                    let arena = SharedArena.current
                else { return "not a queue" }
                SharedReferences.pin(object.pointee.offset)
                out.appendVarint(UInt64(object.pointee.offset))
                out.append(SharedAllocator(arena).generation(of: object.pointee.offset))
                return nil
            },
            decode: { lua, reader in
                guard let arena = SharedArena.current else { return "no shared memory in this process" }
                let allocator = SharedAllocator(arena)
                guard let offset = try? reader.readVarint(), let generation = try? reader.read(UInt32.self),
                    offset < UInt64(arena.size)
                else { return "truncated handle" }
                guard allocator.retainIfAlive(Int(offset), generation: generation, kind: SharedKind.queue.rawValue) else {
                    return "the queue no longer exists"
                }
                guard QueueState(allocator: allocator, offset: Int(offset)).kind == kind else {
                    allocator.release(Int(offset))
                    return "the handle names another kind of queue"
                }
                QueueObject.push(lua, offset: Int(offset), kind: kind, holdsReference: true, allocator: allocator)
                return nil
            })
    }
}
