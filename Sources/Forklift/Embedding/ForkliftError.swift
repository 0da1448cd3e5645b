/// An error from the embedding API: a Lua error (with its message and
/// traceback), an error of the `multiprocessing` module (a task that raised
/// in a worker, a worker that died, a bad argument), a refused start method,
/// or a result that does not convert to the Swift type asked for.
///
/// Switch on `code`; it is a growable set of values, not an enum, so new
/// codes do not break callers.
public struct ForkliftError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. The module's error kinds keep their Lua
    /// names (`RemoteError`, `WorkerLost`, ...) as raw values.
    public struct Code: Hashable, Sendable, RawRepresentable, CustomStringConvertible {
        /// The name, e.g. `RemoteError`.
        public let rawValue: String
        /// A code with this name (any `kind` the module raises maps to one).
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The `.fork` start method was asked for in a process that has more
        /// than one thread: forking it could deadlock the child, so Forklift refuses.
        public static let forkInMultithreadedProcess = Code(rawValue: "ForkInMultithreadedProcess")
        /// A Lua error that is not one of the module's error values.
        public static let lua = Code(rawValue: "LuaError")
        /// A result did not convert to the Swift type asked for.
        public static let conversion = Code(rawValue: "ConversionError")
        /// The task's function raised in a worker (`taskIndex`, the worker's `traceback`).
        public static let remoteError = Code(rawValue: "RemoteError")
        /// A worker died while running the task (`taskIndex`); the pool replaced it.
        public static let workerLost = Code(rawValue: "WorkerLost")
        /// A value could not cross to the workers (the message says where it sits).
        public static let notSendable = Code(rawValue: "NotSendable")
        /// A bad argument, such as a function source that does not compile.
        public static let valueError = Code(rawValue: "ValueError")
        /// The pool is closed or terminated.
        public static let stateError = Code(rawValue: "StateError")
        /// A wait timed out.
        public static let timeout = Code(rawValue: "Timeout")
        /// An operating-system call failed.
        public static let osError = Code(rawValue: "OSError")

        /// The raw value.
        public var description: String { rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// What went wrong, without the kind prefix (for a `remoteError`, the
    /// message of the error raised in the worker).
    public var message: String
    /// The Lua traceback: where the task raised in the worker for a
    /// `remoteError`, else where the error was raised in this process.
    public var traceback: String?
    /// The 0-based position, in the inputs, of the task that failed
    /// (`remoteError`, `workerLost`).
    public var taskIndex: Int?
    /// The error value: for a `remoteError` the value the worker's function
    /// raised, else the value of the Lua error.
    public var value: LuaValue?
    /// The Lua error this was made from, when there was one.
    public var luaError: LuaError?
    /// The conversion that failed, for a `conversion` error.
    public var conversionError: LuaConversionError?

    /// Creates an error.
    public init(
        code: Code, message: String, traceback: String? = nil, taskIndex: Int? = nil, value: LuaValue? = nil,
        luaError: LuaError? = nil, conversionError: LuaConversionError? = nil
    ) {
        self.code = code
        self.message = message
        self.traceback = traceback
        self.taskIndex = taskIndex
        self.value = value
        self.luaError = luaError
        self.conversionError = conversionError
    }

    /// Classifies a Lua error: the module's error tables (`{kind=, message=,
    /// ...}`) keep their kind and fields, anything else is `.lua`.
    public init(_ error: LuaError) {
        if case .table(let t)? = error.value, case .string(let kind) = t["kind"], let name = kind.string,
            case .string(let text) = t["message"]
        {
            var traceback = error.traceback
            if case .string(let tb) = t["traceback"], !tb.bytes.isEmpty { traceback = tb.description }
            var index: Int?
            if case .integer(let i) = t["index"] { index = Int(i) - 1 }
            var value = error.value
            if Code(rawValue: name) == .remoteError { value = t["value"] }
            self.init(
                code: Code(rawValue: name), message: text.description, traceback: traceback, taskIndex: index,
                value: value, luaError: error)
        } else {
            self.init(code: .lua, message: error.message, traceback: error.traceback, value: error.value, luaError: error)
        }
    }

    /// Wraps a failed conversion.
    public init(_ error: LuaConversionError) {
        self.init(code: .conversion, message: error.description, conversionError: error)
    }

    /// `Code: message`, then the traceback when there is one.
    public var description: String {
        var text = "\(code): \(message)"
        if let taskIndex { text += " (task \(taskIndex))" }
        if let traceback, !traceback.isEmpty { text += "\n" + traceback }
        return text
    }
}
