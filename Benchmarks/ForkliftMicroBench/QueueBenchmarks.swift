internal import CLua
internal import Forklift

/// A queue `put` followed by a `get` in one process: the shared-memory path
/// W4 and W5 take per message (encode, append under the queue's lock, take,
/// decode), without the other process or any waiting.
enum QueueBenchmarks {
    private static let setup = """
        local mp = require "multiprocessing"
        local q = mp.Queue()
        return q, q.put, q.get, {
            { "integer", 42, 0 },
            { "string1k", string.rep("x", 1024), 1024 },
            { "string1mib", string.rep("x", 1 << 20), 1 << 20 },
        }
        """

    static func all() throws -> [Benchmark] {
        let state = try LuaState()
        state.installMultiprocessing()
        let lua = state.lua
        lua.checkStack(64)  // every payload stays on the stack
        try state.load(setup, chunkName: "=queue-setup")
        try state.call(nargs: 0, nresults: 4)
        let cases = lua.top, get = lua.top - 1, put = lua.top - 2, queue = lua.top - 3
        guard lua.type(at: put) == LUA_TFUNCTION, lua.type(at: get) == LUA_TFUNCTION else {
            throw LuaRaise("mp.Queue lacks put/get")
        }

        var benchmarks: [Benchmark] = []
        for i in 1...Int64(lua.rawLength(cases)) {
            _ = lua.rawGet(cases, i)
            let entry = lua.top
            _ = lua.rawGet(entry, 1)
            let name = lua.toString(-1) ?? "?"
            _ = lua.rawGet(entry, 3)
            let bytes = Int(lua.toInteger(-1) ?? 0)
            lua.pop(2)
            _ = lua.rawGet(entry, 2)
            let payload = lua.top
            benchmarks.append(.roundTrip(
                "queue.put_get_\(name)", bytes: bytes, state: state,
                put: put, sender: queue, payload: payload, get: get, receiver: queue))
        }
        return benchmarks
    }
}
