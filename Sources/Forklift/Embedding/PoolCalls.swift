/// Python's `starmap` and `apply` on a `ForkliftPool`.
extension ForkliftPool {
    /// Calls the function with each list of arguments, in the workers, and
    /// returns the first result of each call in order (Lua's `pool:starmap`).
    ///
    /// ```swift
    /// let sums: [Int] = try pool.starmap(.source("function(a, b) return a + b end"), over: [[1, 2], [3, 4]])
    /// ```
    /// - Throws: as `map`.
    public func starmap<Output: LuaConvertible>(
        _ function: LuaCallable, over argumentLists: [[any LuaRepresentable]], as type: Output.Type = Output.self,
        chunksize: Int? = nil
    ) throws(ForkliftError) -> [Output] {
        let pool = try openPool()
        try checkReachable(function)
        let (kind, f) = Self.argument(function)
        let lists = argumentLists.map { Self.sequence($0.map(\.luaValue)) }
        let results = try Self.invoke(
            host, "starmap",
            [.reference(pool), .value(kind), .value(f), .sequence(lists), .value(Self.chunk(chunksize))]
        ) { (lua: Lua, base: Int32) throws(LuaError) in
            try Self.readSequence(lua, at: base, count: argumentLists.count, owner: host.state)
        }
        return try Self.convert(results, as: Output.self)
    }

    /// Calls the function once in a worker and returns all its results (Lua's `pool:apply`).
    /// - Throws: as `map`; a failure has `taskIndex` 0.
    @discardableResult
    public func apply(_ function: LuaCallable, _ arguments: any LuaRepresentable...) throws(ForkliftError) -> [LuaValue] {
        let pool = try openPool()
        try checkReachable(function)
        let (kind, f) = Self.argument(function)
        let packed = try Self.invoke(
            host, "apply",
            [.reference(pool), .value(kind), .value(f), .value(Self.sequence(arguments.map(\.luaValue)))]
        ) { (lua: Lua, base: Int32) throws(LuaError) in try lua.value(at: base, owner: host.state) }
        guard case .table(let t) = packed, case .integer(let n) = t["n"] else { return [] }
        return (0..<Int(n)).map { t[.integer(Int64($0 + 1))] }
    }
}
