/// An error raised by Lua, or while loading Lua code, carried into Swift.
///
/// `message` is what `tostring` of the error value gives (as `lua.c` prints it),
/// `traceback` the `stack traceback:` lines captured where the error was raised,
/// and `value` the original error value when it could be read.
public struct LuaError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, in the categories `lua_pcall`/`lua_load` report.
    public enum Kind: Sendable, Equatable {
        /// The chunk does not compile. `incompleteInput` is true when it only
        /// ended too early (the REPL then asks for another line).
        case syntax(incompleteInput: Bool)
        /// A runtime error (`LUA_ERRRUN`).
        case runtime
        /// Lua ran out of memory (`LUA_ERRMEM`).
        case memory
        /// The message handler itself failed (`LUA_ERRERR`).
        case errorHandler
        /// A script file could not be opened or read (`LUA_ERRFILE`).
        case file
    }

    /// What went wrong (syntax, runtime, memory, ...).
    public var kind: Kind
    /// The error text as `lua.c` would print it (without the traceback).
    public var message: String
    /// `stack traceback:` and its lines, when the error was raised at run time.
    public var traceback: String?
    /// The original error value, when it is representable as a `LuaValue`.
    public var value: LuaValue?
    /// True when the error value had no string form and the message was derived
    /// from its `__tostring` metamethod; `lua.c` then prints no traceback.
    public var messageFromMetamethod: Bool = false

    /// Creates an error (Swift code raising on Lua's behalf uses it too).
    public init(kind: Kind, message: String, traceback: String? = nil, value: LuaValue? = nil) {
        self.kind = kind
        self.message = message
        self.traceback = traceback
        self.value = value
    }

    /// The message followed by the traceback, as `lua.c`'s message handler builds it.
    public var description: String {
        guard let traceback, !messageFromMetamethod else { return message }
        return message + "\n" + traceback
    }
}
