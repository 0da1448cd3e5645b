internal import CLua

/// The pool worker's task loop object (`CLua/task_loop.h` runs it): one per
/// worker, restarted for each task, pointing at the worker's progress word.
///
///     local loop = mp._task_loop()
///     loop:watch(progress, slot)    -- progress: the pool's RawArray("q")
///     loop:begin(n, start - 1)      -- per task
///     xpcall(loop.map, handler, loop, f, items, results)   -- or star, apply
///     loop:skip()                   -- after an error: the failed item's index
///     loop:finish()                 -- between tasks: progress word 0
enum TaskLoop {
    static let metatableName = "multiprocessing.TaskLoop"

    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [("_task_loop", new)])
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
        lua_setmetatable(L, -2)
        return 1
    }

    /// `loop:watch(progress, slot)`: the loop keeps `progress[slot]` (a shared
    /// `RawArray("q")`) at the input index of the item running. Anything else
    /// as `progress` turns this off.
    static let watch: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let loop = at(lua, 1) else { return ModuleError.raise(lua, .valueError, "task loop expected") }
        loop.pointee.progress = nil
        if let array = SharedObjects.get(lua, 2, .array), array.typecode == .q, let slot = lua.toInteger(3),
            slot >= 1, slot <= array.count
        {
            loop.pointee.progress = (array.data + Int(slot - 1) * 8).assumingMemoryBound(to: Int64.self)
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
