internal import CLua

/// The pool worker's task loop object (`CLua/task_loop.h` runs it): one per
/// worker, restarted for each task, pointing at the worker's progress word.
///
///     local loop = mp._task_loop()
///     loop:watch(offset)            -- the arena offset of its progress word
///                                   -- (the parent's `mp._word_offset(array, i)`)
///     loop:begin(n, start - 1)      -- per task
///     xpcall(loop.map, handler, loop, f, items, results)   -- or star, apply
///     loop:skip()                   -- after an error: the failed item's index
///     loop:finish()                 -- between tasks: progress word 0
enum TaskLoop {
    static let metatableName = FORKLIFT_TASKLOOP_METATABLE

    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [("_task_loop", new), ("_word_offset", wordOffset)])
        // Made here, in the parent, so that forked workers inherit them:
        // building them in each worker would write to (and so copy) pages it
        // shares with the parent, tens of microseconds per worker.
        pushMetatable(lua)
        lua.pop()
        PackedMapBlock.pushMetatable(lua)
        lua.pop()
    }

    /// Pushes the loops' metatable, making it the first time.
    static func pushMetatable(_ lua: Lua) {
        let L = lua.L
        if luaL_newmetatable(L, metatableName) != 0 {
            lua.newTable()
            for (name, f) in [("map", forklift_taskloop_map), ("star", forklift_taskloop_star),
                              ("apply", forklift_taskloop_apply), ("skip", forklift_taskloop_skip)] as [(String, lua_CFunction)] {
                lua_pushcclosure(L, f, 0)
                lua.setField(-2, name)
            }
            MultiprocessingModule.register(lua, [("watch", watch), ("begin", begin), ("finish", finish)])
            lua.setField(-2, "__index")
        }
    }

    /// `mp._word_offset(array, i)` → the arena offset of element `i` of a
    /// shared `RawArray("q")`: how the parent names a worker's progress word.
    /// A number, not the array: a worker started by spawn or the fork server
    /// then writes its word without decoding a handle (which would cost it
    /// references, metatables and page faults for one 8-byte word). The
    /// parent's array outlives its workers (the pool reaps them first).
    static let wordOffset: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let array = SharedObjects.get(lua, 1, .array), array.typecode == .q, let i = lua.toInteger(2),
            i >= 1, i <= array.count, let arena = SharedArena.current
        else { return ModuleError.raise(lua, .valueError, "_word_offset(RawArray('q'), i)") }
        lua.push(array.data + Int(i - 1) * 8 - arena.base)
        return 1
    }

    /// The loop at `index`, if that is one.
    static func at(_ lua: Lua, _ index: Int32) -> UnsafeMutablePointer<forklift_TaskLoop>? {
        luaL_testudata(lua.L, index, metatableName)?.assumingMemoryBound(to: forklift_TaskLoop.self)
    }

    /// `mp._task_loop()`.
    static let new: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let raw = lua_newuserdatauv(L, MemoryLayout<forklift_TaskLoop>.size, 0) else { return 0 }
        raw.initializeMemory(as: forklift_TaskLoop.self, to: forklift_TaskLoop(count: 0, next: 1, progress: nil, base: 0))
        pushMetatable(lua)
        lua_setmetatable(L, -2)
        return 1
    }

    /// `loop:watch(offset)`: the loop keeps the 8-byte word at that arena
    /// offset at the input index of the item running. nil (or an offset
    /// outside the arena) turns this off.
    static let watch: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let loop = at(lua, 1) else { return ModuleError.raise(lua, .valueError, "task loop expected") }
        loop.pointee.progress = nil
        if let offset = lua.toInteger(2), let arena = SharedArena.current, offset >= 0, offset % 8 == 0,
            Int(offset) <= arena.size - 8
        {
            loop.pointee.progress = (arena.base + Int(offset)).assumingMemoryBound(to: Int64.self)
        }
        return 0
    }

    /// `loop:begin(n, base)`: a task of `n` items, item j being input index `base + j`.
    static let begin: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let loop = at(lua, 1), let n = lua.toInteger(2) else {
            return ModuleError.raise(lua, .valueError, "loop:begin(n, base)")
        }
        loop.pointee.count = n
        loop.pointee.next = 1
        loop.pointee.base = lua.toInteger(3) ?? 0
        return 0
    }

    /// `loop:finish()`: no item is running (progress word 0).
    static let finish: LuaCFunction = { L in
        guard let L else { return 0 }
        if let loop = at(Lua(L), 1) { forklift_taskloop_mark(loop, 0) }
        return 0
    }
}
