internal import CLua

/// The pool worker's block for a chunk of packed numbers (`CLua/packed_map.h`
/// runs it): made from a received task instead of an items table, and sent
/// back as the results — packed as they were produced, or from the table
/// they spilled into.
enum PackedMapBlock {
    static let metatableName = FORKLIFT_PACKEDMAP_METATABLE

    /// Pushes a block holding `count` packed items of `kind` (little-endian
    /// bytes from a message).
    static func push(_ lua: Lua, kind: PackedNumbers.Kind, count: Int, bytes: UnsafeRawBufferPointer) {
        let L = lua.L
        guard let raw = lua_newuserdatauv(L, forklift_packedmap_size(Int64(count)), 1) else { return }
        let block = raw.assumingMemoryBound(to: forklift_PackedMap.self)
        block.pointee = forklift_PackedMap(
            loop: forklift_TaskLoop(count: Int64(count), next: 1, progress: nil, base: 0),
            item_kind: kind.rawValue, result_kind: UInt8(FORKLIFT_PACKED_UNDECIDED), pad: (0, 0, 0, 0, 0, 0))
        if let src = bytes.baseAddress, let items = forklift_packedmap_items(block) {
            for k in 0..<count {
                items[k] = Int64(littleEndian: src.loadUnaligned(fromByteOffset: k * 8, as: Int64.self))
            }
        }
        pushMetatable(lua)
        lua_setmetatable(L, -2)
    }

    /// Pushes the blocks' metatable, making it the first time (the module
    /// makes it in the parent, see `TaskLoop.register`).
    static func pushMetatable(_ lua: Lua) {
        let L = lua.L
        if luaL_newmetatable(L, metatableName) != 0 {
            lua.newTable()
            lua_pushcclosure(L, forklift_packedmap_run, 0)
            lua.setField(-2, "run")
            lua_pushcclosure(L, forklift_packedmap_skip, 0)
            lua.setField(-2, "skip")
            lua.push(function: results)
            lua.setField(-2, "results")
            lua.push(function: watch)
            lua.setField(-2, "watch")
            lua.push(function: items)
            lua.setField(-2, "items")
            lua.setField(-2, "__index")
        }
    }

    /// The block at `index`, if that is one.
    static func at(_ lua: Lua, _ index: Int32) -> UnsafeMutablePointer<forklift_PackedMap>? {
        luaL_testudata(lua.L, index, metatableName)?.assumingMemoryBound(to: forklift_PackedMap.self)
    }

    /// Appends the block's results to a batch: the packing byte and the
    /// packed numbers, or false when they spilled (the caller then encodes
    /// the table `block:results()` gives).
    static func appendPackedResults(_ block: UnsafeMutablePointer<forklift_PackedMap>, into out: inout ByteWriter) -> Bool {
        let kind = block.pointee.result_kind
        guard kind == PackedNumbers.Kind.integers.rawValue || kind == PackedNumbers.Kind.floats.rawValue,
            block.pointee.loop.next > block.pointee.loop.count, let results = forklift_packedmap_results(block)
        else { return false }
        let count = Int(block.pointee.loop.count)
        out.append(kind)
        out.reserve(count * 8)
        for k in 0..<count { out.append(results[k]) }
        return true
    }

    /// `block:watch(loop, base)`: while item j runs, the block keeps the
    /// progress word of the worker's `TaskLoop` at `base + j`, as the loop does.
    static let watch: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let block = at(lua, 1), let loop = TaskLoop.at(lua, 2) else {
            return ModuleError.raise(lua, .valueError, "block:watch(loop, base)")
        }
        block.pointee.loop.progress = loop.pointee.progress
        block.pointee.loop.base = lua.toInteger(3) ?? 0
        return 0
    }

    /// `block:items()` → the items as a table (for a task that is not a
    /// `map`: `starmap` over numbers must fail as it would from a table).
    static let items: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let block = at(lua, 1), let items = forklift_packedmap_items(block) else {
            return ModuleError.raise(lua, .valueError, "packed map block expected")
        }
        let count = Int(block.pointee.loop.count)
        lua_createtable(L, Int32(clamping: count), 0)
        let integers = block.pointee.item_kind == PackedNumbers.Kind.integers.rawValue
        for k in 0..<count {
            if integers { lua_pushinteger(L, items[k]) } else { lua_pushnumber(L, Double(bitPattern: UInt64(bitPattern: items[k]))) }
            lua_rawseti(L, -2, Int64(k + 1))
        }
        return 1
    }

    /// `block:results()` → the results as a table (spilling them if they
    /// were still packed).
    static let results: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let block = at(lua, 1) else { return ModuleError.raise(lua, .valueError, "packed map block expected") }
        if block.pointee.result_kind != PackedNumbers.Kind.values.rawValue {
            if block.pointee.result_kind == UInt8(FORKLIFT_PACKED_UNDECIDED) {
                block.pointee.result_kind = PackedNumbers.Kind.integers.rawValue
            }
            forklift_packedmap_spill(L, 1, block, block.pointee.loop.next - 1)
        }
        lua_getiuservalue(L, 1, 1)
        return 1
    }
}
