internal import CLua
internal import Forklift

/// The codec: every value sent through a pipe, queue or pool is encoded once
/// and decoded once. Timed through the module's own entry points
/// (`mp._encode` / `mp._decode`, the same Swift functions the transports
/// call), called straight from Swift so no Lua loop is in the figure.
enum CodecBenchmarks {
    /// The values, built in Lua as a script would build them.
    private static let samples = """
        local mp = require "multiprocessing"
        local ints = {}
        for i = 1, 1000 do ints[i] = i end
        local records = {}
        for i = 1, 100 do records[i] = { id = i, name = "item" .. i, score = i / 3, tags = { "a", "b" } } end
        local base, offset = 10, 7
        local function closure(x) return x * base + offset end
        local function identity(v) return v end
        return identity, mp._encode, mp._decode, {
            { "integer", 42, 0 },
            { "string16", string.rep("x", 16), 16 },
            { "string1mib", string.rep("x", 1 << 20), 1 << 20 },
            { "ints1000", ints, 0 },
            { "records100", records, 0 },
            { "closure", closure, 0 },
        }
        """

    static func all() throws -> [Benchmark] {
        let state = try LuaState()
        state.installMultiprocessing()
        let lua = state.lua
        lua.checkStack(64)  // every sample and its message stay on the stack
        try state.load(samples, chunkName: "=codec-samples")
        try state.call(nargs: 0, nresults: 4)
        let cases = lua.top, decode = lua.top - 1, encode = lua.top - 2, identity = lua.top - 3
        guard lua.type(at: encode) == LUA_TFUNCTION, lua.type(at: decode) == LUA_TFUNCTION else {
            throw LuaRaise("mp._encode / mp._decode do not exist")
        }

        // The cost of the call itself, included in every figure below.
        var benchmarks = [Benchmark(name: "codec.call_overhead", owner: state) { n in
            for i in 0..<n {
                lua.pushValue(at: identity)
                lua.push(Int64(i))
                try state.call(nargs: 1, nresults: 1)
                lua.pop()
            }
        }]
        for i in 1...Int64(lua.rawLength(cases)) {
            _ = lua.rawGet(cases, i)
            let entry = lua.top
            _ = lua.rawGet(entry, 1)
            let name = lua.toString(-1) ?? "?"
            _ = lua.rawGet(entry, 3)
            let bytes = Int(lua.toInteger(-1) ?? 0)
            lua.pop(2)
            _ = lua.rawGet(entry, 2)
            let value = lua.top  // stays on the stack for the benchmarks' lifetime
            // One encoded copy for the decode benchmark.
            lua.pushValue(at: encode)
            lua.pushValue(at: value)
            try state.call(nargs: 1, nresults: 1)
            let message = lua.top
            let messageBytes = lua.rawLength(message)

            let size = "message_bytes=\(messageBytes)"
            benchmarks.append(Benchmark(name: "codec.encode_\(name)", bytesPerOperation: bytes, info: size, owner: state) { n in
                for _ in 0..<n {
                    lua.pushValue(at: encode)
                    lua.pushValue(at: value)
                    try state.call(nargs: 1, nresults: 1)
                    lua.pop()
                }
            })
            benchmarks.append(Benchmark(name: "codec.decode_\(name)", bytesPerOperation: bytes, info: size, owner: state) { n in
                for _ in 0..<n {
                    lua.pushValue(at: decode)
                    lua.pushValue(at: message)
                    try state.call(nargs: 1, nresults: 1)
                    lua.pop()
                }
            })
        }
        return benchmarks
    }
}
