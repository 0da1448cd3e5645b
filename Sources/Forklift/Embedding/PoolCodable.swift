/// Mapping over Codable Swift values: each input is encoded with
/// `LuaValueEncoder` (a struct becomes a table) and each result decoded with
/// `LuaValueDecoder`.
extension ForkliftPool {
    /// Maps a Lua function over Codable inputs and decodes its results.
    ///
    /// ```swift
    /// let reports = try pool.map(.global("analyse"), encoding: jobs, decoding: Report.self)
    /// ```
    /// - Throws: as `map`, plus `.conversion` when an input does not encode
    ///   or a result does not decode (with `taskIndex` for a result).
    public func map<Input: Encodable, Output: Decodable>(
        _ function: LuaCallable, encoding inputs: [Input], decoding type: Output.Type, chunksize: Int? = nil
    ) throws(ForkliftError) -> [Output] {
        let encoder = LuaValueEncoder()
        var values: [LuaValue] = []
        values.reserveCapacity(inputs.count)
        for (i, input) in inputs.enumerated() {
            do {
                values.append(try encoder.encode(input))
            } catch {
                throw ForkliftError(code: .conversion, message: "cannot encode input \(i): \(error)", taskIndex: i)
            }
        }
        let results = try map(function, over: values, as: LuaValue.self, chunksize: chunksize)
        let decoder = LuaValueDecoder()
        var out: [Output] = []
        out.reserveCapacity(results.count)
        for (i, result) in results.enumerated() {
            do {
                out.append(try decoder.decode(Output.self, from: result))
            } catch {
                throw ForkliftError(
                    code: .conversion, message: "cannot decode result \(i) as \(Output.self): \(error)", taskIndex: i,
                    value: result)
            }
        }
        return out
    }
}
