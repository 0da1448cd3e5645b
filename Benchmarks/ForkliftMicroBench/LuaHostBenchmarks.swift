internal import CLua
internal import Forklift

/// The embedding layer's hot paths: what every value crossing between Swift
/// and Lua goes through.
enum LuaHostBenchmarks {
    static func all() throws -> [Benchmark] {
        let state = try LuaState()
        let lua = state.lua
        let sequence = LuaValue.table(LuaTable(array: (1...1000).map { .integer(Int64($0)) }))
        let text = String(repeating: "x", count: 16)

        // A Lua function for Swift to call, and a Swift function for Lua to call.
        try state.run("function square(x) return x * x end")
        lua.push(function: addOne)
        lua_setglobal(state.L, "add_one")
        try state.load("local n = ... for i = 1, n do add_one(i) end", chunkName: "=calls")
        let loopFromLua = lua.top

        return [
            Benchmark(name: "luahost.push_pop_integer", owner: state) { n in
                for i in 0..<n {
                    lua.push(Int64(i))
                    lua.pop()
                }
            },
            Benchmark(name: "luahost.push_pop_string16", bytesPerOperation: 16, owner: state) { n in
                for _ in 0..<n {
                    lua.push(text)
                    lua.pop()
                }
            },
            Benchmark(name: "luahost.read_integer_value", owner: state) { n in
                lua.push(Int64(42))
                defer { lua.pop() }
                for _ in 0..<n { blackHole(try lua.value(at: -1)) }
            },
            Benchmark(name: "luahost.push_table1000", owner: state) { n in
                for _ in 0..<n {
                    lua.push(sequence)
                    lua.pop()
                }
            },
            Benchmark(name: "luahost.read_table1000", owner: state) { n in
                lua.push(sequence)
                defer { lua.pop() }
                for _ in 0..<n { blackHole(try lua.value(at: -1)) }
            },
            Benchmark(name: "luahost.call_lua_from_swift", owner: state) { n in
                for i in 0..<n {
                    lua_getglobal(state.L, "square")
                    lua.push(Int64(i))
                    try state.call(nargs: 1, nresults: 1)
                    lua.pop()
                }
            },
            Benchmark(name: "luahost.call_swift_from_lua", owner: state) { n in
                lua.pushValue(at: loopFromLua)
                lua.push(Int64(n))
                try state.call(nargs: 1, nresults: 0)
            },
        ]
    }

    /// `add_one(x)`: the cheapest Swift function Lua can call through the trampoline.
    private static let addOne: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        lua.push((lua.toInteger(1) ?? 0) + 1)
        return 1
    }
}
