import CLua
import Forklift
import Glibc

/// The read-eval-print loop of `lua.c` 5.4: `return <line>;` first, `<eof>`
/// continuation with `>> `, `=expr`, errors with tracebacks; `mp` pre-bound.
struct REPL {
    let host: LuaState
    let reader = LineReader()

    func run() {
        let L = host.L
        bindMultiprocessing()
        while true {
            lua_settop(L, 0)
            guard let status = loadLine() else { break }
            switch status {
            case .success:
                do {
                    try Interpreter.docall(host, nargs: 0, nresults: forklift_multret)
                    printResults()
                } catch {
                    report(error, progname: nil)
                }
            case .failure(let error):
                report(error, progname: nil)
            }
        }
        lua_settop(L, 0)
        print("")
        fflush(forklift_stdout())
    }

    /// `mp = require "multiprocessing"`, as the contract promises for the REPL.
    private func bindMultiprocessing() {
        let L = host.L
        lua_getglobal(L, "require")
        host.lua.push("multiprocessing")
        if lua_pcall_shim(L) { lua_setglobal(L, "mp") } else { host.lua.pop() }
    }

    private func lua_pcall_shim(_ L: OpaquePointer) -> Bool { forklift_pcall(L, 1, 1, 0) == LUA_OK }

    /// `_PROMPT`/`_PROMPT2` when set (through `tostring`), else `> ` / `>> `.
    private func prompt(first: Bool) -> String {
        let L = host.L
        defer { lua_settop(L, 0) == () ? () : () }
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        if lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TNIL { return first ? "> " : ">> " }
        var len = 0
        guard let p = luaL_tolstring(L, -1, &len) else { return first ? "> " : ">> " }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    private func readLine(first: Bool) -> String? {
        guard var line = reader.readLine(prompt: prompt(first: first)) else { return nil }
        if first && line.hasPrefix("=") { line = "return " + line.dropFirst() }
        return line
    }

    /// Reads and compiles one statement (several lines while it is incomplete).
    /// nil at end of input; otherwise the compiled chunk is on the stack on success.
    private func loadLine() -> Result<Void, LuaError>? {
        guard let line = readLine(first: true) else { return nil }
        // First as an expression to print.
        if (try? host.load("return \(line);", chunkName: "=stdin")) != nil {
            reader.save(line)
            return .success(())
        }
        var buffer = line
        while true {
            do {
                try host.load(buffer, chunkName: "=stdin")
                reader.save(buffer)
                return .success(())
            } catch {
                guard case .syntax(incompleteInput: true) = error.kind, let more = readLine(first: false) else {
                    reader.save(buffer)
                    return .failure(error)
                }
                buffer += "\n" + more
            }
        }
    }

    /// Prints the chunk's results with the global `print`, as `l_print`.
    private func printResults() {
        let L = host.L
        let n = lua_gettop(L)
        guard n > 0 else { return }
        guard lua_checkstack(L, 20) != 0 else {
            message("too many results to print", progname: nil)
            return
        }
        lua_getglobal(L, "print")
        forklift_insert(L, 1)
        if forklift_pcall(L, n, 0, 0) != LUA_OK {
            var len = 0
            let text = forklift_tolstring(L, -1, &len).map { String(cString: $0) } ?? "?"
            message("error calling 'print' (\(text))", progname: nil)
        }
    }
}
