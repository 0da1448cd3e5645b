internal import CLua

/// The arguments a registered Swift closure receives from Lua.
public struct LuaArguments {
    /// The stack of the call, for what `values` cannot express.
    public let lua: Lua
    /// The arguments, in order.
    public let values: [LuaValue]
    /// How many arguments were passed.
    public var count: Int { values.count }
    /// Argument `i` (0-based), `nil` past the end as in Lua.
    public subscript(i: Int) -> LuaValue { i < values.count ? values[i] : .nil }
}

/// A Swift error a registered closure throws to raise a Lua error with `message`.
public struct LuaRaise: Error, Sendable {
    /// The text of the Lua error.
    public var message: String
    /// An error that raises `message` in Lua.
    public init(_ message: String) { self.message = message }
}

/// Heap box for a Swift closure; a Lua userdata holds it and releases it in `__gc`.
final class SwiftClosureBox {
    let body: (LuaArguments) throws -> [LuaValue]
    init(_ body: @escaping (LuaArguments) throws -> [LuaValue]) { self.body = body }
}

private let closureMetatable = "forklift.SwiftClosure"

extension LuaState {
    /// Makes `body` callable from Lua as the global `name`. Its Lua arguments
    /// arrive as `LuaValue`s and its results are returned to Lua; a thrown
    /// error becomes a Lua error (`LuaRaise` gives its message as is, a
    /// `LuaError` its message, anything else its description).
    ///
    /// Workers forked after the registration inherit the closure: it is
    /// callable there too. Does nothing once the state is closed.
    public func register(_ name: String, _ body: @escaping (LuaArguments) throws -> [LuaValue]) {
        guard !isClosed else { return }
        pushClosure(body)
        lua_setglobal(L, name)
    }

    /// Pushes `body` as a Lua function (see `register`).
    public func pushClosure(_ body: @escaping (LuaArguments) throws -> [LuaValue]) {
        let lua = self.lua
        let slot = forklift_newuserdata(L, MemoryLayout<UnsafeRawPointer>.size)
        let box = Unmanaged.passRetained(SwiftClosureBox(body)).toOpaque()
        slot?.storeBytes(of: box, as: UnsafeRawPointer.self)
        if luaL_newmetatable(L, closureMetatable) != 0 {
            lua.push(function: releaseClosure)
            lua.setField(-2, "__gc")
        }
        lua_setmetatable(L, -2)
        lua.push(function: dispatchClosure, upvalues: 1)
    }
}

/// `__gc` of the box userdata: drops the retained closure.
private let releaseClosure: LuaCFunction = { L in
    guard let L, let slot = lua_touserdata(L, 1) else { return 0 }
    let raw = slot.load(as: UnsafeRawPointer?.self)
    if let raw {
        Unmanaged<SwiftClosureBox>.fromOpaque(raw).release()
        slot.storeBytes(of: nil, as: UnsafeRawPointer?.self)
    }
    return 0
}

/// The Lua-side entry of every registered closure.
private let dispatchClosure: LuaCFunction = { L in
    guard let L else { return 0 }
    let lua = Lua(L)
    guard let slot = lua_touserdata(L, forklift_protected_upvalueindex(1)),
        let raw = slot.load(as: UnsafeRawPointer?.self)
    else { return lua.raise("Swift function called after its state was closed") }
    let box = Unmanaged<SwiftClosureBox>.fromOpaque(raw).takeUnretainedValue()
    let owner = LuaState.owner(of: L)
    do {
        let n = lua.top
        var args: [LuaValue] = []
        args.reserveCapacity(Int(n))
        for i in 0..<n { args.append(try lua.value(at: i + 1, owner: owner)) }
        let results = try box.body(LuaArguments(lua: lua, values: args))
        guard lua.checkStack(Int32(clamping: results.count) + 1) else { return lua.raise("too many results") }
        for r in results { lua.push(r) }
        return Int32(results.count)
    } catch let e as LuaRaise {
        return lua.raise(e.message)
    } catch let e as LuaError {
        if let v = e.value { lua.push(v) } else { lua.push(e.message) }
        return lua.raiseTop
    } catch {
        return lua.raise(String(describing: error))
    }
}
