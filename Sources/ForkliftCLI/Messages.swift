// Error and message printing as lua.c's `l_message` and `report`.
import CLua
import Forklift
import Glibc

nonisolated(unsafe) var progname = "forklift"

/// Prints `progname: message` on forklift_stderr(), as `lua.c`'s `l_message`.
func message(_ text: String, progname: String? = progname) {
    let line = (progname.map { "\($0): " } ?? "") + text + "\n"
    fputs(line, forklift_stderr())
    fflush(forklift_stderr())
}

/// Reports an error as `lua.c`'s `report` does; returns false for convenience.
@discardableResult
func report(_ error: LuaError, progname: String? = progname) -> Bool {
    message(error.description, progname: progname)
    return false
}

