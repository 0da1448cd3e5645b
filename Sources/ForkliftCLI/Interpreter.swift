import CLua
import Forklift

/// `lua.c`'s chunk runners (`docall`, `dochunk`, `dofile`, `dostring`,
/// `dolibrary`, `handle_script`, `handle_luainit`). Each reports its own
/// error as `lua.c`'s `report` does and returns false; an error outside any
/// chunk is thrown as `RaisingSteps.Fatal`.
struct Interpreter {
    let host: LuaState
    let steps: RaisingSteps
    var L: OpaquePointer { host.L }

    /// Calls the function below `nargs` arguments with Ctrl-C armed to
    /// interrupt it (the hook raises "interrupted!" in the running chunk).
    @discardableResult
    func docall(nargs: Int32, nresults: Int32) throws(LuaError) -> Int32 {
        forklift_set_interrupt_target(L)
        defer { forklift_set_interrupt_target(nil) }
        return try host.call(nargs: nargs, nresults: nresults)
    }

    /// Runs `body`; on a Lua error prints it as `report` does and returns false.
    func reporting(_ body: () throws(LuaError) -> Void) -> Bool {
        do {
            try body()
            return true
        } catch {
            report(error)
            return false
        }
    }

    func doFile(_ path: String?) -> Bool {
        reporting { () throws(LuaError) in
            try host.loadFile(path)
            try docall(nargs: 0, nresults: 0)
        }
    }

    func doString(_ code: String, chunkName: String) -> Bool {
        reporting { () throws(LuaError) in
            try host.load(code, chunkName: chunkName)
            try docall(nargs: 0, nresults: 0)
        }
    }

    /// `-l mod` (`mod = require "mod"`) or `-l g=mod` (`g = require "mod"`).
    func doLibrary(_ spec: String) throws(RaisingSteps.Fatal) -> Bool {
        let global: Substring, module: Substring
        if let eq = spec.firstIndex(of: "=") {
            global = spec[..<eq]
            module = spec[spec.index(after: eq)...]
        } else {
            (global, module) = (spec[...], spec[...])
        }
        try steps.getGlobal("require")
        host.lua.push(String(module))
        guard reporting({ () throws(LuaError) in try docall(nargs: 1, nresults: 1) }) else { return false }
        try steps.setGlobal(String(global))
        return true
    }

    /// Runs the script (nil: standard input) with `arg[1...]` as its arguments.
    func runScript(_ path: String?) throws(RaisingSteps.Fatal) -> Bool {
        do {
            try host.loadFile(path)
        } catch {
            report(error)
            return false
        }
        let n = try steps.pushScriptArguments()
        return reporting { () throws(LuaError) in try docall(nargs: n, nresults: forklift_multret) }
    }

    /// `LUA_INIT_5_4`, else `LUA_INIT`: a chunk, or `@file`.
    func runInitialization(environment: (String) -> String?) -> Bool {
        var name = "=LUA_INIT_5_4"
        var code = environment("LUA_INIT_5_4")
        if code == nil {
            name = "=LUA_INIT"
            code = environment("LUA_INIT")
        }
        guard let code else { return true }
        if code.hasPrefix("@") { return doFile(String(code.dropFirst())) }
        return doString(code, chunkName: name)
    }
}
