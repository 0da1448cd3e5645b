internal import CLua
internal import Glibc

/// Layout of `Value` and `Array` blocks and their creation.
///
/// Value payload: lock offset (8, 0 when raw), typecode (1), the element at 16.
/// Array payload: lock offset (8), typecode (1), count at 16 (8), elements at 32.
/// A locked one keeps its lock's block alive (the lock may be shared with
/// other values, as in Python's `Value(t, v, lock=l)`).
enum SharedValueLayout {
    static let valueData = 16
    static let arrayCount = 16
    static let arrayData = 32

    /// Rebuilds a received Value or Array from its block.
    static func rebuild(_ allocator: SharedAllocator, _ offset: Int, kind: SharedKind) -> SharedObject? {
        var o = SharedObject(payload: allocator.payload(of: offset), offset: offset, kind: kind)
        guard let typecode = Typecode(rawValue: o.payload.load(fromByteOffset: 8, as: UInt8.self)) else { return nil }
        o.typecode = typecode
        if kind == .array {
            o.count = Int(o.payload.load(fromByteOffset: arrayCount, as: UInt64.self))
            o.data = o.payload + arrayData
        } else {
            o.data = o.payload + valueData
        }
        let lockOffset = Int(o.payload.load(as: UInt64.self))
        if lockOffset != 0 {
            guard allocator.isPlausibleBlock(lockOffset) else { return nil }
            o.lock = allocator.payload(of: lockOffset)
        }
        return o
    }

    /// Allocates a Value (count nil) or an Array of `count` elements guarded by
    /// the lock object `lock` (nil: raw). Elements start at zero.
    static func allocate(
        _ allocator: SharedAllocator, kind: SharedKind, typecode: Typecode, count: Int, lock: SharedObject?
    ) throws(SystemError) -> SharedObject {
        let payloadBytes = kind == .array ? arrayData + count * typecode.size : valueData + 8
        let offset = try allocator.allocate(payloadBytes: payloadBytes, kind: kind.rawValue, keepsDependent: lock != nil)
        var o = SharedObject(payload: allocator.payload(of: offset), offset: offset, kind: kind)
        o.typecode = typecode
        o.payload.storeBytes(of: typecode.rawValue, toByteOffset: 8, as: UInt8.self)
        if kind == .array {
            o.count = count
            o.payload.storeBytes(of: UInt64(count), toByteOffset: arrayCount, as: UInt64.self)
            o.data = o.payload + arrayData
        } else {
            o.data = o.payload + valueData
        }
        if let lock {
            allocator.retain(lock.offset)
            o.payload.storeBytes(of: UInt64(lock.offset), as: UInt64.self)
            o.lock = lock.payload
        }
        return o
    }

    /// The lock block's offset (0 when raw).
    static func lockOffset(_ o: SharedObject) -> Int { Int(o.payload.load(as: UInt64.self)) }
}

extension SharedObject {
    /// Runs `body` holding this object's lock (when it has one and this
    /// thread does not hold it already); nil after pushing an error.
    @inline(__always)
    func locked<R>(_ lua: Lua, _ body: () -> R) -> R? {
        guard let state = lock else { return body() }
        let lock = SharedLock(state)
        if lock.isMine { return body() }
        let L = lua.L
        guard SynchronizeLua.report(lua, lock.acquire(recursive: true) { SynchronizeLua.interrupted(L) }, self) == true else {
            if SynchronizeLua.interrupted(L) { ModuleError.push(lua, .stateError, "interrupted") }
            return nil
        }
        let r = body()
        _ = lock.release()
        return r
    }
}
