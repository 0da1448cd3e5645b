// forklift: a `lua`-compatible interpreter whose scripts can
// `require "multiprocessing"`. The flow mirrors lua.c's `pmain`.
import CLua
import Forklift
import Glibc

@main
enum ForkliftCommand {
    static func main() {
        let argv = CommandLine.arguments
        if let first = argv.first, !first.isEmpty { progname = first }
        let options = CommandLineOptions.parse(argv)
        
        if let bad = options.badOption {
            var text = "\(progname): "
            if bad.hasPrefix("-e") || bad.hasPrefix("-l") {
                text += "'\(bad)' needs argument\n"
            } else if bad.hasPrefix("-w") || bad.hasPrefix("--workers") {
                text += "'\(bad)' needs a positive number\n"
            } else {
                text += "unrecognized option '\(bad)'\n"
            }
            text += usageText.split(separator: "%@", omittingEmptySubsequences: false).joined(separator: progname)
            fputs(text, forklift_stderr())
            exit(EXIT_FAILURE)
        }
        
        let host: LuaState
        do {
            host = try LuaState(openStandardLibraries: false)
        } catch {
            message("cannot create state: not enough memory", progname: argv.first)
            exit(EXIT_FAILURE)
        }
        let L = host.L
        
        func printVersion() {
            print(String(cString: forklift_copyright()))
            fflush(forklift_stdout())
        }
        
        /// Runs the whole command; false when something failed (exit status 1).
        func runMain() -> Bool {
            if options.version { printVersion() }
            if options.ignoreEnvironment {
                lua_pushboolean(L, 1)
                lua_setfield(L, forklift_registryindex, "LUA_NOENV")
            }
            luaL_openlibs(L)
            host.installMultiprocessing(options: ForkliftOptions(workers: options.workers, progress: options.progress))
            // The `arg` table: script at 0, its arguments at 1..n, options below 0.
            let script = options.scriptIndex == argv.count ? 0 : options.scriptIndex
            lua_createtable(L, Int32(argv.count - script - 1), Int32(script + 1))
            for (i, a) in argv.enumerated() {
                host.lua.push(a)
                lua_rawseti(L, -2, lua_Integer(i - script))
            }
            lua_setglobal(L, "arg")
            forklift_gc_generational(L)
        
            if !options.ignoreEnvironment {
                var name = "=LUA_INIT_5_4"
                var initCode = getenv("LUA_INIT_5_4").map { String(cString: $0) }
                if initCode == nil {
                    name = "=LUA_INIT"
                    initCode = getenv("LUA_INIT").map { String(cString: $0) }
                }
                if let initCode {
                    do {
                        if initCode.hasPrefix("@") {
                            try Interpreter.doFile(host, String(initCode.dropFirst()))
                        } else {
                            try Interpreter.doString(host, initCode, chunkName: name)
                        }
                    } catch { return report(error) }
                }
            }
        
            for action in options.actions {
                do {
                    switch action {
                    case .execute(let code): try Interpreter.doString(host, code, chunkName: "=(command line)")
                    case .require(let name): try Interpreter.doLibrary(host, name)
                    case .warningsOn: lua_warning(L, "@on", 0)
                    }
                } catch { return report(error) }
            }
        
            if options.scriptIndex < argv.count {
                var file: String? = argv[options.scriptIndex]
                if file == "-" && argv[options.scriptIndex - 1] != "--" { file = nil }
                do { try Interpreter.runScript(host, file) } catch { return report(error) }
            }
        
            if options.interactive {
                REPL(host: host).run()
            } else if options.scriptIndex == argv.count && !options.execute && !options.version {
                if isatty(STDIN_FILENO) != 0 {
                    printVersion()
                    REPL(host: host).run()
                } else {
                    do { try Interpreter.doFile(host, nil) } catch { return report(error) }
                }
            }
            return true
        }
        
        // Like lua.c, run everything inside one C-function frame, so
        // tracebacks end with the same `[C]: in ?` line as `lua`'s.
        var succeeded = false
        host.pushClosure { _ in
            succeeded = runMain()
            return []
        }
        if forklift_pcall(L, 0, 0, 0) != LUA_OK {
            message(host.lua.toString(-1) ?? "(error object is not a string)")
            succeeded = false
        }
        host.finishMultiprocessing()
        host.close()
        exit(succeeded ? EXIT_SUCCESS : EXIT_FAILURE)
    }
}
