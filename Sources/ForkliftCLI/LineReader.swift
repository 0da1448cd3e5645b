import CLua
import CEditLine
import Glibc

/// Reads the REPL's input lines: libedit with history on a terminal, plain
/// `getline` otherwise (piped input), as `lua.c`'s `lua_readline` does.
struct LineReader {
    let interactive: Bool
    let historyPath: String?

    init() {
        interactive = isatty(STDIN_FILENO) != 0
        if interactive, let home = getenv("HOME") {
            historyPath = String(cString: home) + "/.forklift_history"
        } else {
            historyPath = nil
        }
        if interactive {
            using_history()
            if let historyPath { _ = read_history(historyPath) }
        }
    }

    /// Shows `prompt` and reads one line without its newline; nil at end of input.
    func readLine(prompt: String) -> String? {
        if interactive {
            guard let raw = readline(prompt) else { return nil }
            defer { free(raw) }
            return String(cString: raw)
        }
        fputs(prompt, forklift_stdout())
        fflush(forklift_stdout())
        var buffer: UnsafeMutablePointer<CChar>? = nil
        var capacity = 0
        defer { free(buffer) }
        let n = getline(&buffer, &capacity, forklift_stdin())
        guard n >= 0, let buffer else { return nil }
        var line = String(cString: buffer)
        if line.hasSuffix("\n") { line.removeLast() }
        return line
    }

    /// Adds a line to the history (and the history file).
    func save(_ line: String) {
        guard interactive, !line.isEmpty else { return }
        _ = add_history(line)
        if let historyPath {
            _ = write_history(historyPath)
            _ = history_truncate_file(historyPath, 1000)
        }
    }
}
