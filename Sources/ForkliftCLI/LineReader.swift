import CLua
import CEditLine
import Glibc

/// Reads the REPL's input lines. On a terminal: libedit, with history kept
/// in `~/.forklift_history` and Ctrl-C discarding the line. Otherwise what
/// Debian's `lua5.4` (built with GNU readline) does with piped input: the
/// prompt, then the line read echoed after it.
struct LineReader {
    enum Input {
        case line([UInt8])
        /// Ctrl-C at the prompt: drop what was typed so far.
        case interrupted
        case endOfInput
    }

    let onTerminal: Bool
    let historyPath: String?
    static let historyLimit: Int32 = 1000

    init() {
        onTerminal = isatty(STDIN_FILENO) != 0
        if onTerminal, let home = getenv("HOME") {
            historyPath = String(cString: home) + "/.forklift_history"
        } else {
            historyPath = nil
        }
        if onTerminal {
            using_history()
            stifle_history(Self.historyLimit)
            if let historyPath { _ = read_history(historyPath) }
        }
    }

    /// Shows `prompt` and reads one line, without its newline.
    func read(prompt: [UInt8]) -> Input {
        var prompt = prompt.map { CChar(bitPattern: $0) }
        prompt.append(0)
        return onTerminal ? readEdited(prompt) : readPiped(prompt)
    }

    private func readEdited(_ prompt: [CChar]) -> Input {
        forklift_catch_prompt_interrupts(1)
        let raw = readline(prompt)
        forklift_catch_prompt_interrupts(0)
        defer { free(raw) }
        if forklift_take_prompt_interrupt() != 0 {
            fputs("\n", forklift_stdout())
            fflush(forklift_stdout())
            return .interrupted
        }
        guard let raw else { return .endOfInput }
        return .line(Array(UnsafeRawBufferPointer(start: raw, count: strlen(raw))))
    }

    /// libedit on a pipe reads a byte at a time, as GNU readline does, so a
    /// chunk's `io.read` sees the same input as under `lua5.4`; it shows no
    /// prompt and no echo there, so both are written here, as readline does.
    private func readPiped(_ prompt: [CChar]) -> Input {
        let out = forklift_stdout()
        fputs(prompt, out)
        fflush(out)
        guard let raw = readline("") else { return .endOfInput }
        defer { free(raw) }
        let line = Array(UnsafeRawBufferPointer(start: raw, count: strlen(raw)))
        line.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, out) }
        fputs("\n", out)
        fflush(out)
        return .line(line)
    }

    /// Adds an entered statement to the history (and the history file).
    func save(_ line: [UInt8]) {
        guard onTerminal, !line.isEmpty else { return }
        var text = line.map { CChar(bitPattern: $0) }
        text.append(0)
        _ = add_history(text)
        if let historyPath {
            _ = write_history(historyPath)
            _ = history_truncate_file(historyPath, Self.historyLimit)
        }
    }
}
