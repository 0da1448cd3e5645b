import Foundation
import Testing

/// Lua helpers the pool tests put in front of their scripts.
enum PoolTestKit {
    /// Defines `mp`, `children()` (this process's child pids, zombies
    /// included, from /proc), `fd_count()` and `alive(pid)`.
    static let prelude = """
        local mp = require "multiprocessing"
        local function all_children()
          local pid = mp.current_process().pid
          local f = assert(io.open("/proc/" .. pid .. "/task/" .. pid .. "/children"))
          local t = {}
          for p in f:read("a"):gmatch("%d+") do t[#t + 1] = tonumber(p) end
          f:close()
          return t
        end
        -- Children from before the script (a fork server started by LUA_INIT) are not counted.
        local baseline = {}
        for _, p in ipairs(all_children()) do baseline[p] = true end
        local function children()
          local t = {}
          for _, p in ipairs(all_children()) do if not baseline[p] then t[#t + 1] = p end end
          return t
        end
        local function fd_count()
          -- Distinct targets: popen's own pipe may be listed with one or both
          -- ends (the parent closes the write end while ls runs).
          local targets, n = {}, 0
          local ls = io.popen("ls -l /proc/" .. mp.current_process().pid .. "/fd")
          for line in ls:lines() do
            local target = line:match(" %-> (.*)$")
            if target then targets[target] = (targets[target] or 0) + 1 end
          end
          ls:close()
          for _ in pairs(targets) do n = n + 1 end
          return n
        end
        local function alive(pid)
          local f = io.open("/proc/" .. pid .. "/stat")
          if not f then return false end
          local state = f:read("a"):match("%) (%a)")
          f:close()
          return state ~= "Z" and state ~= "X"
        end

        """

    /// `FORKLIFT_POOL_START_METHOD=spawn swift test --filter Pool` runs these
    /// tests with another start method (set through LUA_INIT).
    static var environment: [String: String] {
        guard let method = ProcessInfo.processInfo.environment["FORKLIFT_POOL_START_METHOD"] else { return [:] }
        // A throwaway pool starts the fork server before the script runs.
        return ["LUA_INIT": "local mp = require('multiprocessing'); mp.set_start_method('\(method)'); "
            + "local p = mp.Pool(1); p:close(); p:join()"]
    }

    /// Runs `prelude` + `body` and expects a clean exit; returns stdout.
    @discardableResult
    static func run(
        _ body: String, options: [String] = [], timeout: Double = 60,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ForkliftRun {
        let r = try Forklift.runScript(
            prelude + body, options: options, environment: environment, timeout: timeout, sourceLocation: sourceLocation)
        #expect(r.status == 0 && !r.signaled, "exit \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }
}
