internal import CLua

/// The module's own objects (queues, pipe ends, shared values, locks...) cross
/// between processes as handles: the codec asks the object's type to write a
/// small handle and, on the other side, to push an object that refers to the
/// same shared thing.
///
/// A type registers itself by the `__name` of its userdata metatable (set by
/// `luaL_newmetatable`) and a one-byte tag unique among registered types.
struct SendableObjectType: Sendable {
    /// `__name` of the userdata's metatable, e.g. "multiprocessing.Queue".
    let metatableName: String
    /// Identifies the type on the wire; unique (see `SendableObjects.types`).
    let tag: UInt8
    /// Writes the handle of the userdata at `index`; returns an error message
    /// when this object cannot be sent (e.g. it was closed).
    let encode: @Sendable (Lua, Int32, inout ByteWriter) -> String?
    /// Reads a handle and pushes an object for it; returns an error message
    /// (and pushes nothing) when the handle is not usable here.
    let decode: @Sendable (Lua, inout ByteReader) -> String?
}

enum SendableObjects {
    /// Every type whose objects can cross. Add a line here for a new type.
    /// Tags: 1–9 processes and connections, 10–19 queues, 20–39 shared
    /// memory and locks, 40– pools and later parts.
    static let types: [SendableObjectType] = [
        Connection.sendable,
    ] + SharedMemoryModule.sendableTypes + QueueLua.sendables

    static func type(named name: String) -> SendableObjectType? { types.first { $0.metatableName == name } }
    static func type(tagged tag: UInt8) -> SendableObjectType? { types.first { $0.tag == tag } }
}
