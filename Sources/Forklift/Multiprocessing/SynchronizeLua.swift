internal import CLua
internal import Glibc

/// Lua bindings of `Lock`, `RLock`, `Semaphore`/`BoundedSemaphore` and
/// `Event`, and what every guard-like object shares: `acquire` arguments,
/// `with`, recovery reports.
enum SynchronizeLua {
    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("Lock", { L in SynchronizeLua.newLock(L, .lock) }),
            ("RLock", { L in SynchronizeLua.newLock(L, .rlock) }),
            ("Semaphore", { L in SynchronizeLua.newSemaphore(L, bounded: false) }),
            ("BoundedSemaphore", { L in SynchronizeLua.newSemaphore(L, bounded: true) }),
            ("Event", newEvent),
            ("Condition", ConditionBarrierLua.newCondition),
            ("Barrier", ConditionBarrierLua.newBarrier),
        ])
    }

    static func fillMetatable(_ kind: SharedKind, _ lua: Lua) {
        switch kind {
        case .lock, .rlock:
            methods(lua, [
                ("acquire", acquire), ("release", release), ("locked", locked), ("with", with),
            ])
            setMetamethods(lua, [("__tostring", describe), ("__close", closeGuard)])
        case .semaphore:
            methods(lua, [
                ("acquire", acquire), ("release", release), ("get_value", semaphoreValue), ("with", with),
            ])
            setMetamethods(lua, [("__tostring", describe), ("__close", closeGuard)])
        case .event:
            methods(lua, [("set", eventSet), ("clear", eventClear), ("is_set", eventIsSet), ("wait", eventWait)])
            setMetamethods(lua, [("__tostring", describe)])
        case .condition, .barrier:
            ConditionBarrierLua.fillMetatable(kind, lua)
        case .value, .array, .queue:
            break
        }
    }

    /// Sets `__index` of the metatable on top of the stack to a table of `functions`.
    static func methods(_ lua: Lua, _ functions: [(String, LuaCFunction)]) {
        lua.newTable(hashCount: Int32(functions.count))
        for (name, fn) in functions {
            lua.push(function: fn)
            lua.setField(-2, name)
        }
        lua.setField(-2, "__index")
    }

    static func setMetamethods(_ lua: Lua, _ functions: [(String, LuaCFunction)]) {
        for (name, fn) in functions {
            lua.push(function: fn)
            lua.setField(-2, name)
        }
    }

    // MARK: Creating

    /// Allocates a block of `kind`, lets `setup` initialise its payload, and
    /// pushes the object; nil after pushing an error.
    static func create(
        _ lua: Lua, _ kind: SharedKind, payloadBytes: Int, keepsDependent: Bool = false,
        setup: (inout SharedObject) throws(SystemError) -> Void
    ) -> SharedObject? {
        guard let allocator = SharedMemoryModule.allocator(lua) else { return nil }
        do {
            let offset = try allocator.allocate(payloadBytes: payloadBytes, kind: kind.rawValue, keepsDependent: keepsDependent)
            var object = SharedObject(payload: allocator.payload(of: offset), offset: offset, kind: kind)
            do {
                try setup(&object)
            } catch {
                allocator.release(offset)
                throw error
            }
            SharedObjects.push(lua, object, holdsReference: true, allocator: allocator)
            return object
        } catch {
            ModuleError.push(lua, .osError, "cannot create \(SharedObjects.metatableName(kind)): \(error)")
            return nil
        }
    }

    static func newLock(_ L: OpaquePointer?, _ kind: SharedKind) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        guard create(lua, kind, payloadBytes: SharedLock.payloadBytes, setup: { o throws(SystemError) in try SharedLock(o.payload).initialize() }) != nil
        else { return lua.raiseTop }
        return 1
    }

    static func newSemaphore(_ L: OpaquePointer?, bounded: Bool) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        var initial: Int64 = 1
        if !lua.isNoneOrNil(1) {
            guard lua.type(at: 1) == LUA_TNUMBER, let v = lua.toInteger(1) else {
                return ModuleError.raise(lua, .valueError, "semaphore value must be an integer")
            }
            initial = v
        }
        guard initial >= 0 else { return ModuleError.raise(lua, .valueError, "semaphore initial value must be >= 0") }
        guard initial < Int64(UInt32.max) else { return ModuleError.raise(lua, .valueError, "semaphore initial value is too large") }
        guard create(lua, .semaphore, payloadBytes: SharedSemaphore.payloadBytes, setup: { o in
            SharedSemaphore(state: o.payload).initialize(value: UInt32(initial), maximum: bounded ? UInt32(initial) : nil)
        }) != nil else { return lua.raiseTop }
        return 1
    }

    static let newEvent: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard create(lua, .event, payloadBytes: SharedEvent.payloadBytes, setup: { _ in }) != nil else { return lua.raiseTop }
        return 1
    }

    // MARK: Arguments

    /// Deadline `timeout` seconds from now (nil: none; negative counts as 0).
    static func deadline(_ timeout: Double?) -> Double? { timeout.map { Clock.now() + max(0, $0) } }

    /// The timeout at `index`: nil when absent, else a number (false after pushing an error).
    static func timeout(_ lua: Lua, _ index: Int32, _ result: inout Double?) -> Bool {
        if lua.isNoneOrNil(index) { return true }
        guard lua.type(at: index) == LUA_TNUMBER, let t = lua.toNumber(index), !t.isNaN else {
            ModuleError.push(lua, .valueError, "timeout must be a number of seconds or nil")
            return false
        }
        // Beyond ~31 years (math.huge included) is forever: no clock could reach it.
        result = t > 1e9 ? nil : t
        return true
    }

    /// `acquire([block], [timeout])`, Python's signature in Lua: `acquire()`
    /// waits, `acquire(false)` tries once, `acquire(t)` / `acquire(true, t)`
    /// wait at most t seconds, `acquire{block=, timeout=}`.
    static func acquireArguments(_ lua: Lua, _ first: Int32) -> (blocking: Bool, deadline: Double?)? {
        var blocking = true
        var timeoutValue: Double?
        switch lua.type(at: first) {
        case LUA_TNUMBER:
            guard timeout(lua, first, &timeoutValue) else { return nil }
        case LUA_TBOOLEAN:
            blocking = lua.toBool(first)
            guard timeout(lua, first + 1, &timeoutValue) else { return nil }
        case LUA_TTABLE:
            lua.getField(first, "block")
            if !lua.isNil(-1) { blocking = lua.toBool(-1) }
            lua.getField(first, "timeout")
            let ok = timeout(lua, -1, &timeoutValue)
            if !ok { return nil }
            lua.pop(2)
        default:
            guard lua.isNoneOrNil(first) else {
                ModuleError.push(lua, .valueError, "acquire expects ([block], [timeout])")
                return nil
            }
            guard timeout(lua, first + 1, &timeoutValue) else { return nil }
        }
        return (blocking, blocking ? deadline(timeoutValue) : nil)
    }

    /// Whether Ctrl-C asked the running chunk to stop: its handler arms a
    /// hook that raises "interrupted!" as soon as control is back in Lua, so
    /// waits give up and return.
    @inline(__always) static func interrupted(_ L: OpaquePointer) -> Bool { forklift_interrupt_pending(L) != 0 }

    // MARK: Guards (Lock, RLock, Semaphore, Condition)

    /// The lock an object acquires: its own, or a Condition's.
    static func lockOf(_ o: SharedObject) -> (lock: SharedLock, recursive: Bool)? {
        switch o.kind {
        case .lock: return (SharedLock(o.payload), false)
        case .rlock: return (SharedLock(o.payload), true)
        case .condition: return o.lock.map { (SharedLock($0), o.lockIsRecursive) }
        default: return nil
        }
    }

    /// Acquires a guard; nil after pushing an error.
    @inline(__always)
    static func acquire(_ lua: Lua, _ o: SharedObject, blocking: Bool, deadline: Double?) -> Bool? {
        let L = lua.L
        if o.kind == .semaphore {
            return SharedSemaphore(state: o.payload).acquire(blocking: blocking, deadline: deadline) { interrupted(L) }
        }
        guard let (lock, recursive) = lockOf(o) else {
            ModuleError.push(lua, .valueError, "not a lock")
            return nil
        }
        return report(lua, lock.acquire(recursive: recursive, blocking: blocking, deadline: deadline) { interrupted(L) }, o)
    }

    /// Turns an acquisition's outcome into a result (reporting a recovery on stderr).
    static func report(_ lua: Lua, _ outcome: SharedLock.Acquired, _ o: SharedObject) -> Bool? {
        switch outcome {
        case .acquired: return true
        case .failed, .interrupted: return false
        case .recoveredFrom(let owner):
            let who = owner == 0 ? "" : " (pid \(owner))"
            fputs("multiprocessing: acquired a \(SharedObjects.metatableName(o.kind)) whose previous owner died\(who) while holding it\n", forklift_stderr())
            return true
        case .deadlock:
            ModuleError.push(lua, .valueError, "deadlock: this process already holds this Lock (use an RLock to re-enter)")
            return nil
        }
    }

    /// Releases a guard; false after pushing an error.
    @inline(__always)
    static func release(_ lua: Lua, _ o: SharedObject) -> Bool {
        if o.kind == .semaphore {
            if SharedSemaphore(state: o.payload).release() { return true }
            ModuleError.push(lua, .valueError, "semaphore or lock released too many times")
            return false
        }
        guard let (lock, _) = lockOf(o) else {
            ModuleError.push(lua, .valueError, "not a lock")
            return false
        }
        switch lock.release() {
        case .released: return true
        case .notLocked: ModuleError.push(lua, .valueError, "cannot release un-acquired lock")
        case .notOwner: ModuleError.push(lua, .valueError, "cannot release a lock held by another process or thread")
        }
        return false
    }

    static func guardObject(_ lua: Lua) -> SharedObject? {
        guard let o = SharedObjects.get(lua, 1) else {
            ModuleError.push(lua, .valueError, "a lock, semaphore or condition expected (use ':' to call methods)")
            return nil
        }
        return o
    }

    static let acquire: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = guardObject(lua) else { return lua.raiseTop }
        if lua_gettop(L) == 1 {
            // `acquire()`, the common case: no arguments to look at.
            guard let ok = acquire(lua, o, blocking: true, deadline: nil) else { return lua.raiseTop }
            lua_pushboolean(L, ok ? 1 : 0)
            return 1
        }
        guard let (blocking, deadline) = acquireArguments(lua, 2),
            let ok = acquire(lua, o, blocking: blocking, deadline: deadline)
        else { return lua.raiseTop }
        lua.push(ok)
        return 1
    }

    static let release: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = guardObject(lua) else { return lua.raiseTop }
        if o.kind == .semaphore, lua.type(at: 2) == LUA_TNUMBER {
            guard let n = lua.toInteger(2), n >= 1, n < Int64(UInt32.max) else {
                return ModuleError.raise(lua, .valueError, "release count must be a positive integer")
            }
            guard SharedSemaphore(state: o.payload).release(UInt32(n)) else {
                return ModuleError.raise(lua, .valueError, "semaphore or lock released too many times")
            }
            return 0
        }
        return release(lua, o) ? 0 : lua.raiseTop
    }

    /// `guard:with(f, ...)`: acquires, calls f(...), releases (also when f
    /// raises: the error goes on unchanged) and returns f's results.
    static let with: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = guardObject(lua) else { return lua.raiseTop }
        guard let acquired = acquire(lua, o, blocking: true, deadline: nil) else { return lua.raiseTop }
        guard acquired else {
            return interrupted(L) ? 0 : ModuleError.raise(lua, .stateError, "could not acquire")
        }
        let status = forklift_pcall(L, lua.top - 2, forklift_multret, 0)
        guard release(lua, o) else { return lua.raiseTop }
        return status == LUA_OK ? lua.top - 1 : lua.raiseTop
    }

    /// `__close`: `local _ <close> = lock` after acquiring releases it at scope end.
    static let closeGuard: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        if let (lock, _) = lockOf(o) {
            if lock.isMine { _ = lock.release() }
        } else if o.kind == .semaphore {
            return release(lua, o) ? 0 : lua.raiseTop
        }
        return 0
    }

    static let locked: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = guardObject(lua), let (lock, _) = lockOf(o) else { return lua.raiseTop }
        lua.push(lock.isLocked)
        return 1
    }

    static let semaphoreValue: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let o = SharedObjects.get(lua, 1, .semaphore) else {
            return ModuleError.raise(lua, .valueError, "a Semaphore expected")
        }
        lua.push(Int64(SharedSemaphore(state: o.payload).value))
        return 1
    }

    // MARK: Description

    /// `__tostring`, as CPython's reprs: `<Lock(owner=None)>`,
    /// `<Lock(owner=MainProcess)>`, `<Lock(owner=SomeOtherProcess)>`,
    /// `<RLock(MainProcess, 2)>`, `<Semaphore(value=1)>`,
    /// `<BoundedSemaphore(value=1, maxvalue=2)>`, `<Event(set)>`.
    static let describe: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        lua.push(describe(lua, o))
        return 1
    }

    static func describe(_ lua: Lua, _ o: SharedObject) -> String {
        switch o.kind {
        case .lock, .rlock:
            let lock = SharedLock(o.payload)
            let owner = lock.owner
            let name = owner == 0 ? "None" : lock.isMine ? currentProcessName(lua) : "SomeOtherProcess"
            let depth = owner == 0 ? "0" : lock.isMine ? String(lock.depth) : "nonzero"
            return o.kind == .lock ? "<Lock(owner=\(name))>" : "<RLock(\(name), \(depth))>"
        case .semaphore:
            let s = SharedSemaphore(state: o.payload)
            if let maximum = s.maximum { return "<BoundedSemaphore(value=\(s.value), maxvalue=\(maximum))>" }
            return "<Semaphore(value=\(s.value))>"
        case .event:
            return "<Event(\(SharedEvent(state: o.payload).isSet ? "set" : "unset"))>"
        default:
            return SharedObjects.metatableName(o.kind)
        }
    }

    /// `mp.current_process().name`, without raising.
    static func currentProcessName(_ lua: Lua) -> String {
        lua.preservingTop {
            guard lua.getField(forklift_registryindex, MultiprocessingModule.registryKey) == LUA_TTABLE,
                lua.getField(-1, "current_process") == LUA_TFUNCTION,
                forklift_pcall(lua.L, 0, 1, 0) == LUA_OK, lua.type(at: -1) == LUA_TTABLE
            else { return "MainProcess" }
            lua.getField(-1, "name")
            return lua.toString(-1) ?? "MainProcess"
        }
    }
}
