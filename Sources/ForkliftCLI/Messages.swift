// Error and message printing as lua.c's `l_message` and `report`.
import CLua
import Forklift
import Glibc

/// The name messages start with: argv[0], as in lua.c; nil inside the REPL,
/// whose errors carry no program name.
nonisolated(unsafe) var progname: String? = "forklift"

/// Prints `progname: text` on stderr, as `lua.c`'s `l_message`.
func message(_ text: String, progname: String? = progname) {
    let line = (progname.map { "\($0): " } ?? "") + text + "\n"
    fputs(line, forklift_stderr())
    fflush(forklift_stderr())
}

/// Prints an error as `lua.c`'s `report` does: its message and, unless the
/// message came from `__tostring`, the traceback.
func report(_ error: LuaError) {
    message(error.description)
}
