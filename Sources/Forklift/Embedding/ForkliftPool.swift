internal import CLua

/// How a `ForkliftPool` is made (the arguments of Lua's `mp.Pool{...}`).
public struct PoolConfiguration: Sendable {
    /// Worker processes; nil: the host's default (`ForkliftOptions.workers`,
    /// else the number of CPUs).
    public var processes: Int?
    /// How workers are started; nil: the module's choice (`.fork` in a
    /// single-threaded process, `.forkserver` when threads run, unless
    /// `mp.set_start_method` chose otherwise).
    public var startMethod: StartMethod?
    /// Replace a worker after it ran this many tasks (chunks); nil: never.
    public var maxTasksPerChild: Int?
    /// A function each worker runs once when it starts.
    public var initializer: LuaCallable?
    /// The initializer's arguments.
    public var initializerArguments: [LuaValue]

    /// A configuration; every parameter has the default of `mp.Pool`.
    public init(
        processes: Int? = nil, startMethod: StartMethod? = nil, maxTasksPerChild: Int? = nil,
        initializer: LuaCallable? = nil, initializerArguments: [LuaValue] = []
    ) {
        self.processes = processes
        self.startMethod = startMethod
        self.maxTasksPerChild = maxTasksPerChild
        self.initializer = initializer
        self.initializerArguments = initializerArguments
    }
}

extension ForkliftHost {
    /// Starts a pool of worker processes (Lua's `mp.Pool`) driven from Swift.
    /// - Throws: `ForkliftError` `.forkInMultithreadedProcess` when the start
    ///   method is `.fork` and this process has other threads (a Swift program
    ///   that started a `Task`, a `Dispatch` queue or a thread);
    ///   `.startMethodUnavailable` for a start method not implemented yet;
    ///   the module's `ValueError` for a bad configuration.
    public func makePool(_ configuration: PoolConfiguration = PoolConfiguration()) throws(ForkliftError) -> ForkliftPool {
        try ForkliftPool(host: self, configuration: configuration)
    }
}

/// A pool of worker processes, each with its own Lua state, that maps Lua
/// functions over Swift values: the host's `mp.Pool`, driven from Swift.
///
/// Inputs cross to the workers through the same codec as in Lua, so the
/// function and what its upvalues hold must be sendable (see API.md, "What
/// crosses between processes"); under `.fork` the workers also inherit the
/// host's globals and registered Swift functions. Not thread-safe: use it
/// from the host's thread. Close it (`close()`) to wait for the workers;
/// a pool dropped while open is terminated.
public final class ForkliftPool {
    /// How this pool was made.
    public let configuration: PoolConfiguration
    /// The host whose state runs the pool.
    public let host: ForkliftHost
    private var pool: LuaReference?

    init(host: ForkliftHost, configuration: PoolConfiguration) throws(ForkliftError) {
        self.host = host
        self.configuration = configuration
        try configuration.startMethod?.checkUsable()
        let (initKind, initValue) = configuration.initializer.map(Self.argument) ?? (.nil, .nil)
        let initArgs: LuaValue =
            configuration.initializer == nil ? .nil : LuaTable(array: configuration.initializerArguments).luaValue
        pool = try Self.invoke(
            host, "pool",
            [.value(configuration.processes.map { .integer(Int64($0)) } ?? .nil), .value(initKind), .value(initValue),
             .value(initArgs), .value(configuration.maxTasksPerChild.map { .integer(Int64($0)) } ?? .nil),
             .value(configuration.startMethod.map { .string(LuaString($0.rawValue)) } ?? .nil)]
        ) { (lua: Lua, base: Int32) throws(LuaError) in
            lua.pushValue(at: base)
            return LuaReference(reference: host.state.makeReference(), owner: host.state)
        }
    }

    deinit {
        if pool != nil { terminate() }
    }

    /// The start method the workers were started with: the one configured,
    /// or the one the module chose (`.forkserver` when threads ran).
    public var startMethod: StartMethod {
        guard let pool else { return configuration.startMethod ?? .fork }
        let name = try? Self.invoke(host, "start_method", [.reference(pool)]) { (lua: Lua, base: Int32) throws(LuaError) in
            lua.toString(base)
        }
        return name.flatMap { $0 }.flatMap(StartMethod.init(rawValue:)) ?? .fork
    }

    /// How many worker processes the pool keeps (the configured number, or
    /// the host's default); 0 once it is closed.
    public var processes: Int {
        guard let pool else { return 0 }
        let n = try? Self.invoke(host, "size", [.reference(pool)]) { (lua: Lua, base: Int32) throws(LuaError) in
            lua.toInteger(base)
        }
        return n.flatMap { $0 }.map { Int($0) } ?? 0
    }

    /// True until `close()` or `terminate()`.
    public var isOpen: Bool { pool != nil }

    // MARK: Mapping

    /// Applies a Lua function to every input in the workers and returns the
    /// results in input order (Lua's `pool:map`).
    ///
    /// ```swift
    /// let squares: [Int] = try pool.map(.source("function(x) return x * x end"), over: [1, 2, 3])
    /// ```
    /// - Parameters:
    ///   - function: the function, by global name, source or value.
    ///   - inputs: the values; each is converted with `LuaRepresentable`.
    ///   - chunksize: inputs per task; nil lets the pool choose.
    /// - Throws: `ForkliftError`: `.remoteError` when the function raised in a
    ///   worker (with `taskIndex`, the worker's `traceback` and the raised
    ///   `value`), `.workerLost`, `.notSendable`, `.valueError`, `.stateError`
    ///   (pool closed), `.conversion` when a result is not an `Output`.
    public func map<Input: LuaRepresentable, Output: LuaConvertible>(
        _ function: LuaCallable, over inputs: [Input], as type: Output.Type = Output.self, chunksize: Int? = nil
    ) throws(ForkliftError) -> [Output] {
        let pool = try openPool()
        try checkReachable(function)
        let (kind, f) = Self.argument(function)
        let results = try Self.invoke(
            host, "map",
            [.reference(pool), .value(kind), .value(f), .sequence(inputs.map(\.luaValue)), .value(Self.chunk(chunksize))]
        ) { (lua: Lua, base: Int32) throws(LuaError) in
            try Self.readSequence(lua, at: base, count: inputs.count, owner: host.state)
        }
        return try Self.convert(results, as: Output.self)
    }

    /// Streams the results as they are ready (Lua's `pool:imap`, or
    /// `imap_unordered` when `ordered` is false).
    ///
    /// ```swift
    /// var results = try pool.imap(.global("work"), over: items, as: String.self)
    /// while let (index, text) = try results.next() { print(index, text) }
    /// ```
    /// - Throws: as `map`; errors of a task are thrown by the `next()` that reaches it.
    public func imap<Input: LuaRepresentable, Output: LuaConvertible>(
        _ function: LuaCallable, over inputs: [Input], as type: Output.Type = Output.self, chunksize: Int? = nil,
        ordered: Bool = true
    ) throws(ForkliftError) -> ResultIterator<Output> {
        let pool = try openPool()
        try checkReachable(function)
        let (kind, f) = Self.argument(function)
        let iterator = try Self.invoke(
            host, "imap",
            [.reference(pool), .value(kind), .value(f), .sequence(inputs.map(\.luaValue)), .value(Self.chunk(chunksize)),
             .value(.boolean(!ordered))]
        ) { (lua: Lua, base: Int32) throws(LuaError) in
            lua.pushValue(at: base)
            return LuaReference(reference: host.state.makeReference(), owner: host.state)
        }
        return ResultIterator(pool: self, iterator: iterator)
    }

    /// Submits a map without waiting for it (Lua's `pool:map_async`).
    /// - Throws: as `map` for what fails at submission.
    public func mapAsync<Input: LuaRepresentable, Output: LuaConvertible>(
        _ function: LuaCallable, over inputs: [Input], as type: Output.Type = Output.self, chunksize: Int? = nil
    ) throws(ForkliftError) -> PendingMap<Output> {
        let pool = try openPool()
        try checkReachable(function)
        let (kind, f) = Self.argument(function)
        let handle = try Self.invoke(
            host, "map_async",
            [.reference(pool), .value(kind), .value(f), .sequence(inputs.map(\.luaValue)), .value(Self.chunk(chunksize))]
        ) { (lua: Lua, base: Int32) throws(LuaError) in
            lua.pushValue(at: base)
            return LuaReference(reference: host.state.makeReference(), owner: host.state)
        }
        return PendingMap(pool: self, handle: handle, count: inputs.count)
    }

    // MARK: Lifecycle

    /// Lets the workers finish the submitted work, then waits for them to
    /// exit (Lua's `pool:close()` then `pool:join()`). Further maps throw
    /// `.stateError`.
    public func close() throws(ForkliftError) {
        guard let pool else { return }
        self.pool = nil
        _ = try Self.invoke(host, "close", [.reference(pool)]) { (_: Lua, _: Int32) throws(LuaError) in () }
    }

    /// Stops the workers at once (SIGTERM, then SIGKILL), abandoning the
    /// work in progress (Lua's `pool:terminate()`).
    public func terminate() {
        guard let pool else { return }
        self.pool = nil
        _ = try? Self.invoke(host, "terminate", [.reference(pool)]) { (_: Lua, _: Int32) throws(LuaError) in () }
    }

    /// A Swift function mapped directly exists in workers started by exec only
    /// when they are this program (`ForkliftHost.launch`); otherwise the
    /// worker could not even decode the task and would die, so say why now.
    func checkReachable(_ function: LuaCallable) throws(ForkliftError) {
        guard case .global(let name) = function, host.swiftFunctionNames.contains(name),
            !Spawn.servesOwnWorkers, startMethod != .fork
        else { return }
        throw ForkliftError(
            code: .valueError,
            message: "'\(name)' is a Swift function of this program: workers started by \(startMethod.rawValue) "
                + "have it only when the program opens its host with ForkliftHost.launch(setup:) and registers it there")
    }

    func openPool() throws(ForkliftError) -> LuaReference {
        guard let pool, !host.state.isClosed else {
            throw ForkliftError(code: .stateError, message: "Pool not running")
        }
        return pool
    }

    // MARK: Calling the bridge

    enum Argument {
        case value(LuaValue)
        case reference(LuaReference)
        /// A sequence built straight on the stack, with `n` for its length.
        case sequence([LuaValue])
    }

    /// Calls `bridge[name](arguments...)` with one result kept on the stack at
    /// `base`, hands it to `read`, and restores the stack.
    static func invoke<R>(
        _ host: ForkliftHost, _ name: String, _ arguments: [Argument],
        read: (Lua, Int32) throws(LuaError) -> R
    ) throws(ForkliftError) -> R {
        let state = host.state
        guard !state.isClosed else { throw ForkliftError(code: .stateError, message: "the host was closed") }
        let lua = state.lua
        let top = lua.top
        defer { lua.top = top }
        do {
            try PoolBridgeLua.pushFunction(name, in: state)
            lua.checkStack(Int32(arguments.count) + 2)
            for a in arguments {
                switch a {
                case .value(let v): lua.push(v)
                case .reference(let r): lua.push(reference: r)
                case .sequence(let items): Self.push(items, lua)
                }
            }
            try state.call(nargs: Int32(arguments.count), nresults: 1)
            return try read(lua, lua.top)
        } catch {
            throw classify(error)
        }
    }

    /// A module error, or the fork refusal raised when a worker had to be
    /// replaced after another thread appeared (whatever kind the pool
    /// reports it under, the message is `ProcessControl.ForkRefused`'s).
    static func classify(_ error: LuaError) -> ForkliftError {
        var e = ForkliftError(error)
        if e.message.hasPrefix("cannot fork: this process has") {
            e.code = .forkInMultithreadedProcess
        }
        return e
    }

    static func argument(_ function: LuaCallable) -> (LuaValue, LuaValue) {
        switch function {
        case .global(let name): (.string("global"), .string(LuaString(name)))
        case .source(let source): (.string("source"), .string(LuaString(source)))
        case .function(let f): (.string("value"), f)
        }
    }

    /// The inputs as a Lua sequence whose `n` gives the length, so nil inputs are kept.
    static func sequence<Input: LuaRepresentable>(_ inputs: [Input]) -> LuaValue {
        .table(LuaTable(array: inputs.map(\.luaValue), hash: ["n": .integer(Int64(inputs.count))]))
    }

    /// Pushes `{items..., n = #items}` without building a `LuaTable` first.
    static func push(_ items: [LuaValue], _ lua: Lua) {
        lua.checkStack(3)
        lua.newTable(arrayCount: Int32(clamping: items.count), hashCount: 1)
        for (i, v) in items.enumerated() {
            lua.push(v)
            lua.rawSet(-2, Int64(i + 1))
        }
        lua.push(Int64(items.count))
        lua.setField(-2, "n")
    }

    /// Reads `t[1...count]` of the table at `index` (nil results included),
    /// without copying the table as a whole.
    static func readSequence(_ lua: Lua, at index: Int32, count: Int, owner: LuaState) throws(LuaError) -> [LuaValue] {
        guard lua.type(at: index) == LUA_TTABLE else {
            throw LuaError(kind: .runtime, message: "the pool returned \(lua.typeName(at: index)), not a table of results")
        }
        lua.checkStack(2)
        var values: [LuaValue] = []
        values.reserveCapacity(count)
        for i in 0..<count {
            lua.rawGet(index, Int64(i + 1))
            defer { lua.pop() }
            values.append(try lua.value(at: -1, owner: owner))
        }
        return values
    }

    /// Converts results read with `readSequence`.
    static func convert<Output: LuaConvertible>(_ results: [LuaValue], as type: Output.Type) throws(ForkliftError)
        -> [Output]
    {
        var out: [Output] = []
        out.reserveCapacity(results.count)
        for (i, v) in results.enumerated() {
            do {
                out.append(try Output(luaValue: v))
            } catch {
                var e = ForkliftError(error.inside("[\(i + 1)]"))
                e.taskIndex = i
                throw e
            }
        }
        return out
    }

    static func chunk(_ chunksize: Int?) -> LuaValue { chunksize.map { .integer(Int64($0)) } ?? .nil }

}

extension Lua {
    /// Pushes the object a reference holds (nil when it belongs to another state).
    func push(reference: LuaReference) {
        if let owner = reference.owner, Lua(owner.L).registryIdentity == registryIdentity {
            _ = lua_rawgeti(L, forklift_registryindex, lua_Integer(reference.reference))
        } else {
            pushNil()
        }
    }
}
