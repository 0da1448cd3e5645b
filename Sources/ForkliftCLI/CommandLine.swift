/// The command line, parsed as `lua.c`'s `collectargs` does, plus Forklift's
/// own pool options (`-w/--workers N`, `--progress`).
struct CommandLineOptions: Equatable {
    var interactive = false  // -i
    var version = false  // -v (and -i)
    var execute = false  // -e seen
    var ignoreEnvironment = false  // -E
    var workers: Int?
    var progress = false
    /// `-e`, `-l` and `-W` in order, as `runargs` replays them.
    var actions: [Action] = []
    /// Index in argv of the script (argv.count when there is none).
    var scriptIndex: Int
    /// What is wrong with the command line, when it is malformed.
    var problem: Problem?

    init(scriptIndex: Int) { self.scriptIndex = scriptIndex }

    enum Action: Equatable {
        case execute(String)
        /// `-l mod` or `-l g=mod`: the text after `-l`.
        case require(String)
        case warningsOn
    }

    enum Problem: Equatable {
        /// An option lua does not know (or with extra characters, as `-vv`).
        case unrecognized(String)
        /// `-e` or `-l` without its argument.
        case needsArgument(String)
        /// `-w`/`--workers` without a positive count.
        case needsWorkerCount(String)
    }

    /// Parses `argv` (argv[0] is the program name).
    static func parse(_ argv: [String]) -> CommandLineOptions {
        var o = CommandLineOptions(scriptIndex: argv.count)
        var i = 1
        while i < argv.count {
            let a = argv[i]
            o.scriptIndex = i
            guard a.hasPrefix("-") else { return o }
            let letter = a.dropFirst().first
            let rest = a.dropFirst(2)
            switch letter {
            case "-":
                if a == "--progress" {
                    o.progress = true
                } else if a == "--workers" || a.hasPrefix("--workers=") {
                    let attached = a.hasPrefix("--workers=") ? String(a.dropFirst("--workers=".count)) : nil
                    guard let n = workerCount(attached, argv, &i) else { return o.failing(.needsWorkerCount(a)) }
                    o.workers = n
                } else if rest.isEmpty {  // `--`
                    o.scriptIndex = i + 1
                    return o
                } else {
                    return o.failing(.unrecognized(a))
                }
            case nil:  // `-`: the script is standard input
                return o
            case "w":
                guard let n = workerCount(rest.isEmpty ? nil : String(rest), argv, &i) else {
                    return o.failing(.needsWorkerCount(a))
                }
                o.workers = n
            case "E" where rest.isEmpty: o.ignoreEnvironment = true
            case "W" where rest.isEmpty: o.actions.append(.warningsOn)
            case "i" where rest.isEmpty: o.interactive = true; o.version = true
            case "v" where rest.isEmpty: o.version = true
            case "e", "l":
                var value = String(rest)
                if value.isEmpty {
                    i += 1
                    // As lua: the argument may not look like an option.
                    guard i < argv.count, !argv[i].hasPrefix("-") else {
                        o.scriptIndex = i - 1
                        return o.failing(.needsArgument(a))
                    }
                    value = argv[i]
                }
                if letter == "e" {
                    o.execute = true
                    o.actions.append(.execute(value))
                } else {
                    o.actions.append(.require(value))
                }
            default:
                return o.failing(.unrecognized(a))
            }
            i += 1
        }
        o.scriptIndex = argv.count
        return o
    }

    /// The count after `-w`: attached (`-w4`, `--workers=4`) or the next argument.
    private static func workerCount(_ attached: String?, _ argv: [String], _ i: inout Int) -> Int? {
        var text = attached
        if text == nil {
            i += 1
            text = i < argv.count ? argv[i] : nil
        }
        guard let text, let n = Int(text), n > 0 else { return nil }
        return n
    }

    private func failing(_ problem: Problem) -> CommandLineOptions {
        var o = self
        o.problem = problem
        return o
    }
}

extension CommandLineOptions.Problem {
    /// The message and usage `lua.c`'s `print_usage` prints, with Forklift's options added.
    func usage(progname: String) -> String {
        let first: String
        switch self {
        case .unrecognized(let a): first = "unrecognized option '\(a)'"
        case .needsArgument(let a): first = "'\(a)' needs argument"
        case .needsWorkerCount(let a): first = "'\(a)' needs a positive number of workers"
        }
        return """
            \(progname): \(first)
            usage: \(progname) [options] [script [args]]
            Available options are:
              -e stat   execute string 'stat'
              -i        enter interactive mode after executing 'script'
              -l mod    require library 'mod' into global 'mod'
              -l g=mod  require library 'mod' into global 'g'
              -v        show version information
              -E        ignore environment variables
              -W        turn warnings on
              --        stop handling options
              -         stop handling options and execute stdin
              -w N, --workers N  default pool size (else the number of CPUs)
              --progress         show progress bars for pool work on stderr

            """
    }
}
