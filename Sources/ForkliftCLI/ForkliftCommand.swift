// forklift: a `lua`-compatible interpreter whose scripts can
// `require "multiprocessing"`. The flow mirrors lua.c's `main` and `pmain`.
import CLua
import Forklift
import Glibc

@main
enum ForkliftCommand {
    static func main() {
        let argv = CommandLine.arguments
        SpawnedProcess.prepareExecutable()
        // A worker started by the spawn or forkserver start method.
        if SpawnedProcess.isRequested(argv) { exit(SpawnedProcess.main(argv)) }
        let host: LuaState
        do {
            host = try LuaState(openStandardLibraries: false)
        } catch {
            message("cannot create state: not enough memory", progname: argv.first)
            exit(EXIT_FAILURE)
        }
        // Like lua.c, run everything inside one C function called in
        // protected mode, so tracebacks end with the same `[C]: in ?` line.
        var succeeded = false
        host.pushClosure { _ in
            do throws(RaisingSteps.Fatal) {
                succeeded = try pmain(host, argv)
            } catch {
                message(error.message)
            }
            return []
        }
        if forklift_pcall(host.L, 0, 0, 0) != LUA_OK {
            message(host.lua.toString(-1) ?? "(null)")
            succeeded = false
        }
        host.finishMultiprocessing()
        host.close()
        exit(succeeded ? EXIT_SUCCESS : EXIT_FAILURE)
    }

    /// lua.c's `pmain`: false when something failed (exit status 1).
    static func pmain(_ host: LuaState, _ argv: [String]) throws(RaisingSteps.Fatal) -> Bool {
        let L = host.L
        let options = CommandLineOptions.parse(argv)
        if let first = argv.first, !first.isEmpty { progname = first }
        if let problem = options.problem {
            fputs(problem.usage(progname: progname ?? "forklift"), forklift_stderr())
            fflush(forklift_stderr())
            return false
        }
        if options.version { printVersion() }
        if options.ignoreEnvironment {
            lua_pushboolean(L, 1)  // tells the libraries to ignore LUA_PATH and LUA_CPATH
            lua_setfield(L, forklift_registryindex, "LUA_NOENV")
        }
        luaL_openlibs(L)
        let steps = try RaisingSteps(host)
        host.installMultiprocessing(options: ForkliftOptions(workers: options.workers, progress: options.progress))
        createArgTable(host, argv, script: options.scriptIndex)
        forklift_gc_generational(L)
        let interpreter = Interpreter(host: host, steps: steps)

        if !options.ignoreEnvironment {
            guard interpreter.runInitialization(environment: { getenv($0).map { String(cString: $0) } }) else {
                return false
            }
        }
        for action in options.actions {
            switch action {
            case .execute(let code):
                guard interpreter.doString(code, chunkName: "=(command line)") else { return false }
            case .require(let spec):
                guard try interpreter.doLibrary(spec) else { return false }
            case .warningsOn:
                lua_warning(L, "@on", 0)
            }
        }
        let script = options.scriptIndex
        if script < argv.count {
            // `-` is standard input, unless it came right after `--`.
            let path: String? = argv[script] == "-" && argv[script - 1] != "--" ? nil : argv[script]
            guard try interpreter.runScript(path) else { return false }
        }
        if options.interactive {
            try REPL(interpreter: interpreter).run()
        } else if script == argv.count && !options.execute && !options.version {
            if isatty(STDIN_FILENO) != 0 {
                printVersion()
                try REPL(interpreter: interpreter).run()
            } else {
                _ = interpreter.doFile(nil)
            }
        }
        return true
    }

    static func printVersion() {
        fputs(String(cString: forklift_copyright()) + "\n", forklift_stdout())
        fflush(forklift_stdout())
    }

    /// The `arg` table: the script at 0, its arguments at 1...n, the
    /// interpreter and its options at negative indices (lua.c's `createargtable`).
    static func createArgTable(_ host: LuaState, _ argv: [String], script: Int) {
        let L = host.L
        let base = script == argv.count ? 0 : script
        lua_createtable(L, Int32(argv.count - base - 1), Int32(base + 1))
        // The raw bytes: an argument need not be UTF-8.
        for i in 0..<argv.count {
            lua_pushstring(L, CommandLine.unsafeArgv[i])
            lua_rawseti(L, -2, lua_Integer(i - base))
        }
        // lua_setglobal on a fresh state runs no metamethod: it cannot raise.
        lua_setglobal(L, "arg")
    }
}
