internal import CLua
internal import Synchronization

/// A Lua function named from Swift: what a pool maps, or what `call` runs.
public enum LuaCallable: Sendable, Hashable {
    /// The global of that name in the host: a Lua function, or a Swift
    /// function registered with `register`.
    case global(String)
    /// Lua source that evaluates to a function: an expression such as
    /// `"function(x) return x * x end"`, or a chunk whose first result is the
    /// function (`"local k = 3; return function(x) return k * x end"`). It is
    /// compiled once per host and source text, so mapping it again does not
    /// resend it to the workers. `mp` inside it is the module (an upvalue,
    /// available in every worker whatever the start method).
    case source(String)
    /// A function value read from this host (`.function` from `evaluate` or
    /// `global`), e.g. one compiled with `ForkliftHost.compile`.
    case function(LuaValue)
}

/// Forklift embedded in a Swift program: a Lua 5.4 state with the standard
/// libraries and `require "multiprocessing"`, plus Swift-typed conveniences
/// and pools driven from Swift.
///
/// ```swift
/// let host = try ForkliftHost()
/// host.register("scale") { (x: Double) in x * 2.5 }
/// let pool = try host.makePool(PoolConfiguration(processes: 2))
/// let ys: [Double] = try pool.map(.source("function(x) return scale(x) end"), over: [1.0, 2.0])
/// try pool.close()
/// ```
/// Not thread-safe: use one host from one thread (or one isolation domain).
/// The module keeps some bookkeeping per process (child processes, the
/// pool defaults of `ForkliftOptions`), so use all the hosts of a process
/// from the same thread.
/// Under the `.fork` start method, pools may only be created while the
/// process has a single thread (see `StartMethod`).
public final class ForkliftHost {
    /// The underlying state, for everything the façade does not cover.
    public let state: LuaState

    /// Globals registered as Swift functions through this host.
    var swiftFunctionNames: Set<String> = []

    /// Opens a state with the standard libraries, makes
    /// `require "multiprocessing"` available and binds it to the global `mp`.
    /// - Parameter options: the pool defaults (`workers`, `progress`) the
    ///   `forklift` command line sets with `-w` and `--progress`.
    /// - Throws: `LuaError` when the state cannot be created.
    public init(options: ForkliftOptions = ForkliftOptions()) throws(LuaError) {
        state = try LuaState()
        state.installMultiprocessing(options: options)
        try state.run("mp = require 'multiprocessing'", chunkName: "=(forklift host)")
        ForkliftHost.openHosts.add(1, ordering: .relaxed)
        counted = true
    }

    /// Hosts opened and not yet closed in this process: child processes are
    /// tracked per process, so only the last one to close finishes them.
    static let openHosts = Atomic<Int>(0)
    private var counted = false

    deinit {
        if counted { ForkliftHost.openHosts.subtract(1, ordering: .relaxed) }
    }

    /// Wraps the state of a worker started by exec (see `launch`), which
    /// already has `multiprocessing` installed.
    init(adopting state: LuaState) throws(LuaError) {
        self.state = state
        try state.run("mp = require 'multiprocessing'", chunkName: "=(forklift host)")
    }

    /// Closes the state, after stopping the fork server this host started (and
    /// the workers it forked). When no other host of this process is open, it first
    /// joins the non-daemon child processes still running and terminates the
    /// daemon ones (pool workers among them), as the `forklift` executable
    /// does when its script ends: children are tracked per process, so a host
    /// closing while another is open leaves them to that one.
    public func close() {
        guard !state.isClosed else { return }
        // This host's fork server (if one was started) serves nobody once the state is gone.
        _ = try? state.run("require('multiprocessing')._forkserver_shutdown()", chunkName: "=(forklift host)")
        if counted {
            counted = false
            if ForkliftHost.openHosts.subtract(1, ordering: .relaxed).newValue == 0 { state.finishMultiprocessing() }
        }
        state.close()
    }

    // MARK: Running code

    /// Runs Lua source; `arguments` arrive as the chunk's `...`.
    /// - Returns: the chunk's results.
    /// - Throws: `LuaError` with the message and traceback when it does not
    ///   compile or raises.
    @discardableResult
    public func run(_ source: String, chunkName: String = "=(embedded)", arguments: [any LuaRepresentable] = [])
        throws(LuaError) -> [LuaValue]
    {
        try state.run(source, chunkName: chunkName, arguments: arguments.map(\.luaValue))
    }

    /// Runs the Lua file at `path` as `forklift path args...` would: the
    /// arguments arrive as `...` and in the global `arg` (`arg[0]` the path).
    /// - Returns: the chunk's results.
    /// - Throws: `LuaError` of kind `.file` when it cannot be read, else as `run`.
    @discardableResult
    public func runFile(_ path: String, arguments: [any LuaRepresentable] = []) throws(LuaError) -> [LuaValue] {
        let values = arguments.map(\.luaValue)
        var arg = LuaTable(array: values)
        arg.hash[.integer(0)] = .string(LuaString(path))
        state.setGlobal("arg", .table(arg))
        return try state.runFile(path, arguments: values)
    }

    /// Evaluates Lua code as the REPL does: as an expression list when it is
    /// one (`"1 + 1, math.pi"`), else as a chunk (`"local x = 2; return x"`).
    /// - Returns: every value it produced.
    @discardableResult
    public func evaluate(_ code: String) throws(LuaError) -> [LuaValue] {
        do {
            return try state.run("return " + code, chunkName: "=(evaluate)")
        } catch {
            guard case .syntax = error.kind else { throw error }
            return try state.run(code, chunkName: "=(evaluate)")
        }
    }

    /// Evaluates Lua code (as `evaluate(_:)`) and converts its first value.
    /// - Throws: `ForkliftError` with code `.lua` (or a module kind) when the
    ///   code fails, `.conversion` when the value is not a `T`.
    public func evaluate<T: LuaConvertible>(_ code: String, as type: T.Type) throws(ForkliftError) -> T {
        let values: [LuaValue]
        do { values = try evaluate(code) } catch { throw ForkliftError(error) }
        do { return try T(luaValue: values.first ?? .nil) } catch { throw ForkliftError(error) }
    }

    /// Compiles Lua source that evaluates to a function (see
    /// `LuaCallable.source`) and returns the function, for `call` or a pool.
    /// Inside it `mp` is the `multiprocessing` module as an upvalue, so it
    /// works in workers started by exec too (which lack the host's global `mp`).
    /// - Throws: `LuaError` when it does not compile or is not a function.
    public func compile(_ source: String) throws(LuaError) -> LuaValue {
        // `mp` as an upvalue rather than the host's global, so the function
        // still has it in workers started by exec.
        let prelude = "local mp = require 'multiprocessing'; "
        let results: [LuaValue]
        do {
            results = try state.run(prelude + "return " + source, chunkName: "=(function source)")
        } catch {
            guard case .syntax = error.kind else { throw error }
            results = try state.run(prelude + source, chunkName: "=(function source)")
        }
        let f = results.first ?? .nil
        guard case .function = f else {
            throw LuaError(kind: .runtime, message: "the source does not evaluate to a function, got \(f.typeName)", value: f)
        }
        return f
    }

    // MARK: Globals and calls

    /// Reads or sets a global variable; reading gives `nil` when it is unset.
    /// (A global holding a table with a cycle reads as `nil`; use `evaluate`
    /// to see the error.)
    public subscript(global name: String) -> LuaValue {
        get { (try? state.global(name)) ?? .nil }
        set { state.setGlobal(name, newValue) }
    }

    /// Calls a Lua function with Swift arguments.
    /// - Returns: all its results.
    /// - Throws: `LuaError` with the message and traceback when it raises.
    @discardableResult
    public func call(_ function: LuaCallable, _ arguments: any LuaRepresentable...) throws(LuaError) -> [LuaValue] {
        try state.call(resolve(function), arguments.map(\.luaValue))
    }

    /// Calls a Lua function and converts its first result.
    /// - Throws: `ForkliftError` (`.lua`, a module kind, or `.conversion`).
    public func call<T: LuaConvertible>(_ function: LuaCallable, _ arguments: any LuaRepresentable..., as type: T.Type)
        throws(ForkliftError) -> T
    {
        let results: [LuaValue]
        do { results = try state.call(resolve(function), arguments.map(\.luaValue)) } catch { throw ForkliftError(error) }
        do { return try T(luaValue: results.first ?? .nil) } catch { throw ForkliftError(error) }
    }

    /// The function a `LuaCallable` names, looked up or compiled now.
    func resolve(_ function: LuaCallable) throws(LuaError) -> LuaValue {
        switch function {
        case .global(let name):
            let f = try state.global(name)
            if case .nil = f { throw LuaError(kind: .runtime, message: "no global function '\(name)'") }
            return f
        case .source(let source): return try compile(source)
        case .function(let f): return f
        }
    }
}
