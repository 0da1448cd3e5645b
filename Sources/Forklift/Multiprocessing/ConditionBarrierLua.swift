internal import CLua
internal import Glibc

/// Lua bindings of `Condition` and `Barrier`.
enum ConditionBarrierLua {
    static func fillMetatable(_ kind: SharedKind, _ lua: Lua) {
        if kind == .condition {
            SynchronizeLua.methods(lua, [
                ("acquire", SynchronizeLua.acquire), ("release", SynchronizeLua.release),
                ("with", SynchronizeLua.with), ("wait", wait), ("wait_for", waitFor),
                ("notify", notify), ("notify_all", notifyAll),
            ])
            SynchronizeLua.setMetamethods(lua, [("__close", SynchronizeLua.closeGuard), ("__tostring", describe)])
        } else {
            lua.newTable()
            for (name, fn) in [("wait", barrierWait), ("abort", abort), ("reset", reset)] as [(String, LuaCFunction)] {
                lua.push(function: fn)
                lua.setField(-2, name)
            }
            lua.push(function: barrierIndex, upvalues: 1)
            lua.setField(-2, "__index")
            SynchronizeLua.setMetamethods(lua, [("__tostring", describe)])
        }
    }

    // MARK: Condition

    /// `Condition([lock])`: with no lock, a new RLock (as in Python).
    static let newCondition: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        if lua.isNoneOrNil(1) {
            lua.top = 0
            guard SynchronizeLua.newLock(L, .rlock) == 1 else { return lua.raiseTop }
        }
        guard let lock = SharedObjects.get(lua, 1), lock.kind == .lock || lock.kind == .rlock else {
            return ModuleError.raise(lua, .valueError, "Condition expects a Lock or an RLock")
        }
        guard let allocator = SharedMemoryModule.allocator(lua) else { return lua.raiseTop }
        guard SynchronizeLua.create(lua, .condition, payloadBytes: SharedConditionState.payloadBytes, keepsDependent: true, setup: { o in
            allocator.retain(lock.offset)  // the condition keeps its lock alive
            SharedConditionState(state: o.payload).initialize(lockOffset: lock.offset)
            o.lock = lock.payload
            o.lockIsRecursive = lock.kind == .rlock
        }) != nil else { return lua.raiseTop }
        return 1
    }

    /// Rebuilds a received Condition from its block.
    static func rebuildCondition(_ allocator: SharedAllocator, _ offset: Int) -> SharedObject? {
        var o = SharedObject(payload: allocator.payload(of: offset), offset: offset, kind: .condition)
        let lockOffset = SharedConditionState(state: o.payload).lockOffset
        guard allocator.isPlausibleBlock(lockOffset) else { return nil }
        let lockKind = allocator.kind(of: lockOffset)
        guard lockKind == SharedKind.lock.rawValue || lockKind == SharedKind.rlock.rawValue else { return nil }
        o.lock = allocator.payload(of: lockOffset)
        o.lockIsRecursive = lockKind == SharedKind.rlock.rawValue
        return o
    }

    /// The condition at argument 1 whose lock this thread holds; nil after pushing an error.
    static func ownedCondition(_ lua: Lua, _ action: String) -> (SharedObject, SharedConditionState, SharedLock)? {
        guard let o = SharedObjects.get(lua, 1, .condition), let lockState = o.lock else {
            ModuleError.push(lua, .valueError, "a Condition expected (use ':' to call methods)")
            return nil
        }
        let lock = SharedLock(lockState)
        guard lock.isMine else {
            ModuleError.push(lua, .valueError, "cannot \(action) on un-acquired lock")
            return nil
        }
        return (o, SharedConditionState(state: o.payload), lock)
    }

    /// Waits once; nil after pushing an error.
    static func waitOnce(_ lua: Lua, _ o: SharedObject, _ state: SharedConditionState, _ lock: SharedLock, deadline: Double?) -> Bool? {
        let L = lua.L
        let (notified, relock) = state.wait(lock: lock, deadline: deadline) { SynchronizeLua.interrupted(L) }
        guard SynchronizeLua.report(lua, relock, o) != nil else { return nil }
        return notified
    }

    /// `cond:wait([timeout])` → true when notified, false on time-out.
    static let wait: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        var t: Double?
        guard let (o, state, lock) = ownedCondition(lua, "wait"), SynchronizeLua.timeout(lua, 2, &t),
            let notified = waitOnce(lua, o, state, lock, deadline: SynchronizeLua.deadline(t))
        else { return lua.raiseTop }
        lua.push(notified)
        return 1
    }

    /// `cond:wait_for(predicate[, timeout])` → the predicate's last result.
    static let waitFor: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        var t: Double?
        guard let (o, state, lock) = ownedCondition(lua, "wait"), SynchronizeLua.timeout(lua, 3, &t) else {
            return lua.raiseTop
        }
        let deadline = SynchronizeLua.deadline(t)
        lua.top = 2
        while true {
            lua.pushValue(at: 2)
            guard forklift_pcall(L, 0, 1, 0) == LUA_OK else { return lua.raiseTop }
            if lua.toBool(-1) { return 1 }
            if let deadline, Clock.now() >= deadline { return 1 }
            lua.pop()
            guard waitOnce(lua, o, state, lock, deadline: deadline) != nil else { return lua.raiseTop }
            if SynchronizeLua.interrupted(L) { return 0 }
        }
    }

    static func notify(_ L: OpaquePointer?, all: Bool) -> Int32 {
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let (_, state, _) = ownedCondition(lua, "notify") else { return lua.raiseTop }
        var n: UInt32 = 1
        if all {
            n = UInt32.max
        } else if !lua.isNoneOrNil(2) {
            guard let k = lua.toInteger(2), k >= 0 else {
                return ModuleError.raise(lua, .valueError, "notify count must be a non-negative integer")
            }
            n = UInt32(clamping: k)
        }
        state.notify(n)
        return 0
    }

    static let notify: LuaCFunction = { L in ConditionBarrierLua.notify(L, all: false) }
    static let notifyAll: LuaCFunction = { L in ConditionBarrierLua.notify(L, all: true) }

    // MARK: Barrier

    /// `Barrier(parties[, action[, timeout]])` or `Barrier{parties=, action=, timeout=}`.
    static let newBarrier: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        if lua.type(at: 1) == LUA_TTABLE {
            let t = lua.absolute(1)
            lua.getField(t, "parties")
            lua.getField(t, "action")
            lua.getField(t, "timeout")
            lua_rotate(L, 1, -1)
            lua.pop()
        }
        guard lua.type(at: 1) == LUA_TNUMBER, let parties = lua.toInteger(1), parties >= 1, parties < Int64(UInt32.max) else {
            return ModuleError.raise(lua, .valueError, "Barrier needs a positive integer number of parties")
        }
        let hasAction = !lua.isNoneOrNil(2)
        guard !hasAction || lua.type(at: 2) == LUA_TFUNCTION else {
            return ModuleError.raise(lua, .valueError, "Barrier action must be a function")
        }
        var timeout: Double?
        guard SynchronizeLua.timeout(lua, 3, &timeout) else { return lua.raiseTop }
        guard SynchronizeLua.create(lua, .barrier, payloadBytes: SharedBarrier.payloadBytes, setup: { o throws(SystemError) in
            try SharedBarrier(state: o.payload).initialize(parties: UInt32(parties), timeout: timeout)
        }) != nil else { return lua.raiseTop }
        if hasAction {
            // The action lives in this process's object (and in forked
            // copies); a Barrier received as a handle has none.
            lua.pushValue(at: 2)
            forklift_setuservalue(L, -2)
        }
        return 1
    }

    static func barrier(_ lua: Lua) -> SharedBarrier? {
        guard let o = SharedObjects.get(lua, 1, .barrier) else {
            ModuleError.push(lua, .valueError, "a Barrier expected (use ':' to call methods)")
            return nil
        }
        return SharedBarrier(state: o.payload)
    }

    static func broken(_ lua: Lua, _ message: String) -> Int32 {
        ModuleError.raise(lua, .timeout, message, fields: [("broken", .boolean(true))])
    }

    /// `barrier:wait([timeout])` → arrival index 1...parties; a broken barrier raises `Timeout`.
    static let barrierWait: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        var t: Double?
        guard let b = barrier(lua), SynchronizeLua.timeout(lua, 2, &t) else { return lua.raiseTop }
        let deadline = SynchronizeLua.deadline(t ?? b.defaultTimeout)
        switch b.arrive() {
        case .broken:
            return broken(lua, "barrier is broken")
        case .reentered:
            return ModuleError.raise(lua, .valueError, "Barrier:wait called from the barrier's own action")
        case .last(let index):
            lua.top = 1
            if forklift_getuservalue(L, 1) == LUA_TFUNCTION {
                guard forklift_pcall(L, 0, 0, 0) == LUA_OK else {
                    b.breakBarrier(unlocking: true)
                    return lua.raiseTop
                }
            }
            b.finishRound()
            lua.push(Int64(index) + 1)
            return 1
        case .sleep(let round, let index):
            switch b.sleep(round: round, deadline: deadline, interrupted: { SynchronizeLua.interrupted(L) }) {
            case .passed:
                lua.push(Int64(index) + 1)
                return 1
            case .broken: return broken(lua, "barrier is broken")
            case .timedOut: return broken(lua, "barrier wait timed out")
            case .interrupted: return 0
            }
        }
    }

    static let abort: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let b = barrier(lua) else { return lua.raiseTop }
        b.breakBarrier()
        return 0
    }

    static let reset: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let b = barrier(lua) else { return lua.raiseTop }
        b.reset()
        return 0
    }

    /// `__index`: the fields `parties`, `n_waiting`, `broken`, then the methods (upvalue 1).
    static let barrierIndex: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        let b = SharedBarrier(state: o.payload)
        switch lua.toString(2) {
        case "parties": lua.push(Int64(b.parties))
        case "n_waiting": lua.push(Int64(b.waiting))
        case "broken": lua.push(b.isBroken)
        default:
            lua.pushValue(at: 2)
            lua_rawget(L, forklift_protected_upvalueindex(1))
        }
        return 1
    }

    static let describe: LuaCFunction = { L in
        guard let L, let o = SharedObjects.unchecked(L) else { return 0 }
        let lua = Lua(L)
        if o.kind == .barrier {
            let b = SharedBarrier(state: o.payload)
            lua.push("<Barrier(parties=\(b.parties), n_waiting=\(b.waiting)\(b.isBroken ? ", broken" : ""))>")
        } else {
            let state = SharedConditionState(state: o.payload)
            var lock = SharedObject(payload: o.lock ?? o.payload, offset: state.lockOffset, kind: o.lockIsRecursive ? .rlock : .lock)
            lock.lock = nil
            lua.push("<Condition(\(SynchronizeLua.describe(lua, lock)), \(state.waiting))>")
        }
        return 1
    }
}
