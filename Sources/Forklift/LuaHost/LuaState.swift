internal import CLua
internal import Glibc

/// Owns one Lua interpreter: opens it with the standard libraries and closes
/// it when released. Not thread-safe: use a state from one thread at a time.
public final class LuaState {
    /// The raw state; valid as long as this object lives.
    public let L: OpaquePointer
    private let owned: Bool

    /// Opens a new state with Lua's standard libraries.
    /// - Throws: `LuaError` of kind `.memory` when Lua cannot allocate it.
    public init(openStandardLibraries: Bool = true) throws(LuaError) {
        guard let L = luaL_newstate() else {
            throw LuaError(kind: .memory, message: "cannot create state: not enough memory")
        }
        self.L = L
        self.owned = true
        forklift_extraspace(L).pointee = Unmanaged.passUnretained(self).toOpaque()
        if openStandardLibraries { luaL_openlibs(L) }
    }

    /// The `LuaState` that owns `L` (or the state `L` is a coroutine of), if
    /// it was opened by Swift; a borrowing wrapper otherwise.
    public static func owner(of L: OpaquePointer) -> LuaState {
        if let raw = forklift_extraspace(L).pointee {
            return Unmanaged<LuaState>.fromOpaque(raw).takeUnretainedValue()
        }
        return LuaState(borrowing: L)
    }

    /// Wraps a state owned elsewhere (it is not closed by this object).
    public init(borrowing L: OpaquePointer) {
        self.L = L
        self.owned = false
    }

    private var closed = false

    /// True once `close()` ran: the state must not be used any more.
    public var isClosed: Bool { closed }

    /// What loading, calling and reading globals throw once the state is closed.
    static let closedError = LuaError(kind: .runtime, message: "the Lua state was closed")

    deinit { close() }

    /// Closes the state now (running pending finalizers and `__close`
    /// handlers, as `lua_close` does). Further use of this object is an error.
    public func close() {
        guard owned, !closed else { return }
        closed = true
        forklift_extraspace(L).pointee = nil
        lua_close(L)
    }

    /// `LUA_MULTRET`: keep every result of a call.
    public static let multipleResults: Int32 = -1

    /// The stack view.
    public var lua: Lua { Lua(L) }

    // MARK: Registry references

    func makeReference() -> Int32 { luaL_ref(L, forklift_registryindex) }
    func releaseReference(_ ref: Int32) {
        // After close the registry is gone along with every reference in it.
        if !closed { luaL_unref(L, forklift_registryindex, ref) }
    }

    // MARK: Loading and running

    /// Compiles `source` and pushes the chunk as a function.
    /// - Throws: `LuaError` `.syntax(incompleteInput:)` when it does not compile.
    public func load(_ source: String, chunkName: String, mode: String = "bt") throws(LuaError) {
        guard !closed else { throw LuaState.closedError }
        var source = source
        let status = source.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) {
                forklift_loadbuffer(L, $0.baseAddress, $0.count, chunkName, mode)
            }
        }
        if status != LUA_OK { throw popError(status: status) }
    }

    /// Compiles a chunk given as bytes (source that need not be UTF-8, or a
    /// binary chunk when `mode` allows it) and pushes it as a function.
    public func load(bytes: [UInt8], chunkName: String, mode: String = "bt") throws(LuaError) {
        guard !closed else { throw LuaState.closedError }
        let status = bytes.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) {
                forklift_loadbuffer(L, $0.baseAddress, $0.count, chunkName, mode)
            }
        }
        if status != LUA_OK { throw popError(status: status) }
    }

    /// Compiles the file at `path` (nil: standard input) and pushes the chunk.
    public func loadFile(_ path: String?) throws(LuaError) {
        guard !closed else { throw LuaState.closedError }
        let status = luaL_loadfilex(L, path, nil)
        if status != LUA_OK { throw popError(status: status) }
    }

    /// Calls the function below its `nargs` arguments on the stack with
    /// `lua.c`'s message handler (message and traceback taken where the error
    /// is raised), as `lua.c`'s `docall` does; the error value itself is kept.
    /// On success the results stay on the stack; returns how many there are.
    @discardableResult
    public func call(nargs: Int32, nresults: Int32 = LuaState.multipleResults) throws(LuaError) -> Int32 {
        guard !closed else { throw LuaState.closedError }
        let base = lua_gettop(L) - nargs
        forklift_pushmsghandler(L)
        forklift_insert(L, base)
        let status = forklift_pcall(L, nargs, nresults, base)
        forklift_remove(L, base)
        if status != LUA_OK { throw popError(status: status) }
        return lua_gettop(L) - base + 1
    }

    /// Runs Lua source and returns its results.
    @discardableResult
    public func run(_ source: String, chunkName: String? = nil, arguments: [LuaValue] = []) throws(LuaError)
        -> [LuaValue]
    {
        guard !closed else { throw LuaState.closedError }
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        try load(source, chunkName: chunkName ?? "=(forklift)")
        for a in arguments { lua.push(a) }
        let n = try call(nargs: Int32(arguments.count))
        return try (0..<n).map { (i: Int32) throws(LuaError) in try lua.value(at: base + 1 + i, owner: self) }
    }

    /// Runs the Lua file at `path` and returns its results.
    @discardableResult
    public func runFile(_ path: String, arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        guard !closed else { throw LuaState.closedError }
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        try loadFile(path)
        for a in arguments { lua.push(a) }
        let n = try call(nargs: Int32(arguments.count))
        return try (0..<n).map { (i: Int32) throws(LuaError) in try lua.value(at: base + 1 + i, owner: self) }
    }

    /// Reads a global variable.
    public func global(_ name: String) throws(LuaError) -> LuaValue {
        guard !closed else { throw LuaState.closedError }
        lua_getglobal(L, name)
        defer { lua.pop() }
        return try lua.value(at: -1, owner: self)
    }

    /// Sets a global variable.
    public func setGlobal(_ name: String, _ value: LuaValue) {
        guard !closed else { return }
        lua.push(value)
        lua_setglobal(L, name)
    }

    /// Calls a global function by name with arguments and returns its results.
    public func callGlobal(_ name: String, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        guard !closed else { throw LuaState.closedError }
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        lua_getglobal(L, name)
        for a in arguments { lua.push(a) }
        let n = try call(nargs: Int32(arguments.count))
        return try (0..<n).map { (i: Int32) throws(LuaError) in try lua.value(at: base + 1 + i, owner: self) }
    }

    /// Calls a function value with arguments and returns its results.
    public func call(_ function: LuaValue, _ arguments: [LuaValue] = []) throws(LuaError) -> [LuaValue] {
        guard !closed else { throw LuaState.closedError }
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        lua.push(function)
        for a in arguments { lua.push(a) }
        let n = try call(nargs: Int32(arguments.count))
        return try (0..<n).map { (i: Int32) throws(LuaError) in try lua.value(at: base + 1 + i, owner: self) }
    }

    // MARK: Errors

    /// Pops the error left by a failed load or call and turns it into a `LuaError`.
    func popError(status: Int32) -> LuaError {
        defer { lua.pop() }
        return Lua(L).error(status: status, owner: self)
    }
}

extension Lua {
    /// Builds a `LuaError` from the error value on top (not popped) and what
    /// the message handler recorded at the point of the error.
    func error(status: Int32, owner: LuaState?) -> LuaError {
        let kind: LuaError.Kind
        switch status {
        case LUA_ERRSYNTAX:
            let msg = toString(-1) ?? ""
            kind = .syntax(incompleteInput: msg.hasSuffix("<eof>"))
        case LUA_ERRMEM: kind = .memory
        case LUA_ERRERR: kind = .errorHandler
        case LUA_ERRFILE: kind = .file
        default: kind = .runtime
        }
        var message = plainMessage(at: -1)
        var traceback: String? = nil
        var fromMetamethod = false
        if status == LUA_ERRRUN, let recorded = takeRecorded(forklift_errormessage_key) {
            message = recorded
            traceback = takeRecorded(forklift_traceback_key)
            fromMetamethod = traceback == nil
        } else {
            // A failed handler or a memory error leaves nothing coherent behind.
            _ = takeRecorded(forklift_errormessage_key)
            _ = takeRecorded(forklift_traceback_key)
        }
        if status == LUA_ERRMEM && message.isEmpty { message = "not enough memory" }
        var err = LuaError(kind: kind, message: message, traceback: traceback, value: try? value(at: -1, owner: owner))
        err.messageFromMetamethod = fromMetamethod
        return err
    }

    /// Reads and clears a string the message handler left in the registry.
    private func takeRecorded(_ key: UnsafePointer<CChar>) -> String? {
        lua_getfield(L, forklift_registryindex, key)
        let text = toString(-1)
        pop()
        if text != nil {
            pushNil()
            lua_setfield(L, forklift_registryindex, key)
        }
        return text
    }

    /// The message of an error value without running metamethods (the values
    /// Lua itself raises, for syntax, memory and handler errors, are strings).
    func plainMessage(at index: Int32) -> String {
        let i = absolute(index)
        switch lua_type(L, i) {
        case LUA_TSTRING: return toString(i) ?? ""
        case LUA_TNUMBER:
            pushValue(at: i)
            defer { pop() }
            var len = 0
            guard let p = forklift_tolstring(L, -1, &len) else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
        default:
            return "(error object is a \(typeName(at: i)) value)"
        }
    }
}
