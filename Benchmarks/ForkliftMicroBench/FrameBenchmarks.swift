internal import CLua
internal import Forklift

/// Frame write + read through a real pipe: the syscall path every message
/// takes. Both ends live in this one process, so a frame must fit in the pipe
/// buffer (the module enlarges it to 1 MiB): payloads stay at 64 KiB and below.
/// `send_bytes`/`recv_bytes` are frames alone; `send`/`recv` add the codec.
enum FrameBenchmarks {
    private static let setup = """
        local mp = require "multiprocessing"
        local r, w = mp.Pipe(false)
        local ints = {}
        for i = 1, 1000 do ints[i] = i end
        return r, w, w.send_bytes, r.recv_bytes, w.send, r.recv, {
            { "bytes8", "send_bytes", string.rep("x", 8) },
            { "bytes1k", "send_bytes", string.rep("x", 1024) },
            { "bytes64k", "send_bytes", string.rep("x", 65536) },
            { "integer", "send", 42 },
            { "ints1000", "send", ints },
        }
        """

    static func all() throws -> [Benchmark] {
        let state = try LuaState()
        state.installMultiprocessing()
        let lua = state.lua
        lua.checkStack(64)  // every payload stays on the stack
        try state.load(setup, chunkName: "=frame-setup")
        try state.call(nargs: 0, nresults: 7)
        let cases = lua.top
        let reader = cases - 6, writer = cases - 5
        let sendBytes = cases - 4, recvBytes = cases - 3, send = cases - 2, recv = cases - 1
        for slot in sendBytes...recv where lua.type(at: slot) != LUA_TFUNCTION {
            throw LuaRaise("a Pipe connection lacks send/recv/send_bytes/recv_bytes")
        }

        var benchmarks: [Benchmark] = []
        for i in 1...Int64(lua.rawLength(cases)) {
            _ = lua.rawGet(cases, i)
            let entry = lua.top
            _ = lua.rawGet(entry, 1)
            let name = lua.toString(-1) ?? "?"
            _ = lua.rawGet(entry, 2)
            let raw = lua.toString(-1) == "send_bytes"
            lua.pop(2)
            _ = lua.rawGet(entry, 3)
            let payload = lua.top
            let bytes = raw ? lua.rawLength(payload) : 0
            let (put, get) = raw ? (sendBytes, recvBytes) : (send, recv)
            benchmarks.append(.roundTrip(
                "frame.write_read_\(name)", bytes: bytes, state: state,
                put: put, sender: writer, payload: payload, get: get, receiver: reader))
        }
        return benchmarks
    }
}
