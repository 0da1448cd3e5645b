import CLua
import Forklift
import Glibc

/// The read-eval-print loop of `lua.c` 5.4: a line is tried as `return
/// <line>;` first, an incomplete statement (`<eof>` in the syntax error)
/// continues with `>> `, `=expr` prints, errors print their traceback and the
/// loop goes on; `mp` is pre-bound. Ctrl-C at the prompt drops the line.
struct REPL {
    let interpreter: Interpreter
    let reader = LineReader()
    private var L: OpaquePointer { interpreter.L }
    private var steps: RaisingSteps { interpreter.steps }

    /// What reading one statement gave.
    private enum Loaded {
        /// The compiled chunk is on the stack.
        case chunk
        case failed(LuaError)
        /// Input ended in the middle of a statement: `lua.c` then reports
        /// whatever is on top of its stack, the continuation prompt's value.
        case endedInside(String)
        case interrupted
    }

    func run() throws(RaisingSteps.Fatal) {
        let saved = progname
        // No program name on errors in interactive mode; as in lua.c, it stays
        // off when an error escapes the loop (lua.c longjmps past its restore).
        progname = nil
        try bindMultiprocessing()
        while let loaded = try loadLine() {
            switch loaded {
            case .chunk:
                if interpreter.reporting({ () throws(LuaError) in
                    try interpreter.docall(nargs: 0, nresults: forklift_multret)
                }) {
                    try printResults()
                }
            case .failed(let error): report(error)
            case .endedInside(let text): message(text)
            case .interrupted: break
            }
        }
        lua_settop(L, 0)
        fputs("\n", forklift_stdout())
        fflush(forklift_stdout())
        progname = saved
    }

    /// `mp = require "multiprocessing"`, as the contract promises for the REPL.
    private func bindMultiprocessing() throws(RaisingSteps.Fatal) {
        try steps.getGlobal("require")
        Lua(L).push("multiprocessing")
        if forklift_pcall(L, 1, 1, 0) == LUA_OK {
            try steps.setGlobal("mp")
        } else {
            lua_settop(L, 0)
        }
    }

    /// `_PROMPT`/`_PROMPT2` through `tostring` when set, else `> ` / `>> `;
    /// also what `lua.c` leaves on its stack (nil, "(null)" when printed).
    private func prompt(first: Bool) throws(RaisingSteps.Fatal) -> (text: [UInt8], leftOnStack: String) {
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        try steps.getGlobal(first ? "_PROMPT" : "_PROMPT2")
        if lua_type(L, -1) == LUA_TNIL { return (Array((first ? "> " : ">> ").utf8), "(null)") }
        try steps.toString()
        let bytes = Array(Lua(L).stringBytes(-1) ?? UnsafeRawBufferPointer(start: nil, count: 0))
        return (bytes, String(decoding: bytes, as: UTF8.self))
    }

    private enum Line {
        case text([UInt8])
        case end(leftOnStack: String)
        case interrupted
    }

    /// lua.c's `pushline`: `=expr` on a first line means `return expr`.
    private func readLine(first: Bool) throws(RaisingSteps.Fatal) -> Line {
        let (text, leftOnStack) = try prompt(first: first)
        switch reader.read(prompt: text) {
        case .endOfInput: return .end(leftOnStack: leftOnStack)
        case .interrupted: return .interrupted
        case .line(let line):
            if first && line.first == UInt8(ascii: "=") { return .text(Array("return ".utf8) + line.dropFirst()) }
            return .text(line)
        }
    }

    /// lua.c's `loadline`: nil at end of input.
    private func loadLine() throws(RaisingSteps.Fatal) -> Loaded? {
        lua_settop(L, 0)
        let line: [UInt8]
        switch try readLine(first: true) {
        case .end: return nil
        case .interrupted: return .interrupted
        case .text(let t): line = t
        }
        // addreturn: first as an expression whose values are printed.
        if (try? interpreter.host.load(bytes: Array("return ".utf8) + line + [UInt8(ascii: ";")], chunkName: "=stdin"))
            != nil
        {
            reader.save(line)
            return .chunk
        }
        // multiline: as a statement, reading more lines while it is incomplete.
        var buffer = line
        while true {
            do throws(LuaError) {
                try interpreter.host.load(bytes: buffer, chunkName: "=stdin")
                reader.save(buffer)
                return .chunk
            } catch {
                guard case .syntax(incompleteInput: true) = error.kind else {
                    reader.save(buffer)
                    return .failed(error)
                }
                switch try readLine(first: false) {
                case .text(let more): buffer += [UInt8(ascii: "\n")] + more
                case .end(let leftOnStack):
                    reader.save(buffer)
                    return .endedInside(leftOnStack)
                case .interrupted:
                    reader.save(buffer)
                    return .interrupted
                }
            }
        }
    }

    /// lua.c's `l_print`: the chunk's results through the global `print`.
    private func printResults() throws(RaisingSteps.Fatal) {
        let n = lua_gettop(L)
        guard n > 0 else { return }
        guard lua_checkstack(L, 20) != 0 else {
            throw RaisingSteps.Fatal(message: "stack overflow (too many results to print)")
        }
        try steps.getGlobal("print")
        forklift_insert(L, 1)
        if forklift_pcall(L, n, 0, 0) != LUA_OK {
            var len = 0
            let text = forklift_tolstring(L, -1, &len).map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: len), as: UTF8.self)
            }
            message("error calling 'print' (\(text ?? "(null)"))")
        }
    }
}
