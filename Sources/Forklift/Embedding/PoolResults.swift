/// Results of `ForkliftPool.imap`, pulled one at a time; each `next()`
/// waits for the next result (in input order, or as tasks finish when
/// unordered). Use it from the pool's thread.
public struct ResultIterator<Output: LuaConvertible> {
    let pool: ForkliftPool
    let iterator: LuaReference

    /// The next result with its 0-based input index, or nil when all were delivered.
    /// - Throws: `ForkliftError` for the task that failed (`.remoteError`,
    ///   `.workerLost`) or a result that is not an `Output` (`.conversion`).
    public mutating func next() throws(ForkliftError) -> (index: Int, value: Output)? {
        let (index, value) = try ForkliftPool.invokeIterator(pool.host, iterator)
        guard let index else { return nil }
        do {
            return (index, try Output(luaValue: value))
        } catch {
            var e = ForkliftError(error.inside("[\(index + 1)]"))
            e.taskIndex = index
            throw e
        }
    }
}

/// A map submitted with `ForkliftPool.mapAsync` (Python's `AsyncResult`).
/// The pool makes progress while you wait on it or call other pool methods.
public struct PendingMap<Output: LuaConvertible> {
    let pool: ForkliftPool
    let handle: LuaReference
    /// How many inputs the map was given.
    public let count: Int

    /// Waits at most `timeout` seconds (nil: until done) and tells whether
    /// every result is in (Lua's `AsyncResult:wait`).
    public func wait(timeout: Double? = nil) throws(ForkliftError) -> Bool {
        try ForkliftPool.invoke(pool.host, "wait", [.reference(handle), .value(timeout.map { .number($0) } ?? .nil)]) {
            (lua: Lua, base: Int32) throws(LuaError) in lua.toBool(base)
        }
    }

    /// Waits for every result and returns them in input order.
    /// - Throws: as `ForkliftPool.map`.
    public func get() throws(ForkliftError) -> [Output] {
        let results = try ForkliftPool.invoke(pool.host, "get", [.reference(handle)]) {
            (lua: Lua, base: Int32) throws(LuaError) in
            try ForkliftPool.readSequence(lua, at: base, count: count, owner: pool.host.state)
        }
        return try ForkliftPool.convert(results, as: Output.self)
    }
}

extension ForkliftPool {
    /// Calls an `imap` iterator: (0-based index, value), or (nil, nil) at the end.
    static func invokeIterator(_ host: ForkliftHost, _ iterator: LuaReference) throws(ForkliftError) -> (Int?, LuaValue) {
        let state = host.state
        guard !state.isClosed else { throw ForkliftError(code: .stateError, message: "the host was closed") }
        let lua = state.lua
        let top = lua.top
        defer { lua.top = top }
        do {
            lua.checkStack(3)
            lua.push(reference: iterator)
            try state.call(nargs: 0, nresults: 2)
            guard let k = lua.toInteger(top + 1) else { return (nil, .nil) }
            return (Int(k) - 1, try lua.value(at: top + 2, owner: state))
        } catch {
            throw classify(error)
        }
    }
}
