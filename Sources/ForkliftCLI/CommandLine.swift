/// The command line, parsed as `lua.c`'s `collectargs` does, plus Forklift's
/// own pool options (`-w/--workers N`, `--progress`).
struct CommandLineOptions {
    var interactive = false  // -i
    var version = false  // -v (and -i)
    var execute = false  // -e seen
    var ignoreEnvironment = false  // -E
    var workers: Int?
    var progress = false
    /// `-e`, `-l` and `-W` in order, as `runargs` replays them.
    var actions: [Action] = []
    /// Index in argv of the script (argv.count when there is none).
    var scriptIndex: Int = 0
    /// The offending argument when the command line is malformed.
    var badOption: String?

    init(scriptIndex: Int) { self.scriptIndex = scriptIndex }

    enum Action {
        case execute(String)
        case require(String)
        case warningsOn
    }

    /// Parses `argv` (argv[0] is the program name).
    static func parse(_ argv: [String]) -> CommandLineOptions {
        var o = CommandLineOptions(scriptIndex: argv.count)
        var i = 1
        /// The value of `-e`/`-l`: attached (`-estat`) or the next argument, which must not be an option.
        func value(_ attached: Substring) -> String? {
            if !attached.isEmpty { return String(attached) }
            i += 1
            guard i < argv.count, !argv[i].hasPrefix("-") else { return nil }
            return argv[i]
        }
        while i < argv.count {
            let a = argv[i]
            o.scriptIndex = i
            guard a.hasPrefix("-") else { return o }
            let rest = a.dropFirst(2)
            if a == "--progress" {
                o.progress = true
            } else if a == "--workers" || a.hasPrefix("--workers=") || a.hasPrefix("-w") {
                var text: String? =
                    a.hasPrefix("--workers=") ? String(a.dropFirst("--workers=".count))
                    : (a.hasPrefix("-w") && !rest.isEmpty) ? String(rest) : nil
                if text == nil {
                    i += 1
                    text = i < argv.count ? argv[i] : nil
                }
                guard let text, let n = Int(text), n > 0 else {
                    o.badOption = a
                    return o
                }
                o.workers = n
            } else if a == "--" {
                o.scriptIndex = i + 1
                return o
            } else if a == "-" {
                return o
            } else {
                switch a.dropFirst().first {
                case "E" where rest.isEmpty: o.ignoreEnvironment = true
                case "W" where rest.isEmpty: o.actions.append(.warningsOn)
                case "i" where rest.isEmpty: o.interactive = true; o.version = true
                case "v" where rest.isEmpty: o.version = true
                case "e":
                    guard let v = value(rest) else { o.badOption = a; return o }
                    o.execute = true
                    o.actions.append(.execute(v))
                case "l":
                    guard let v = value(rest) else { o.badOption = a; return o }
                    o.actions.append(.require(v))
                default:
                    o.badOption = a
                    return o
                }
            }
            i += 1
        }
        o.scriptIndex = argv.count
        return o
    }
}

let usageText = """
    usage: %@ [options] [script [args]]
    Available options are:
      -e stat   execute string 'stat'
      -i        enter interactive mode after executing 'script'
      -l name   require library 'name' into global 'name'
      -v        show version information
      -E        ignore environment variables
      -W        turn warnings on
      --        stop handling options
      -         stop handling options and execute stdin
      -w, --workers N  default pool size (else the number of CPUs)
      --progress       show progress bars for pool work on stderr

    """
