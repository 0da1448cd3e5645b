internal import CLua
internal import Glibc

/// Monotonic time and sleeping.
enum Clock {
    /// Seconds on the monotonic clock. The corresponding C function is `clock_gettime`.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Sleeps `seconds`, resuming after signals until the time has passed,
    /// unless `stop` (asked after each signal) says to return early.
    /// The corresponding C function is `nanosleep`.
    static func sleep(_ seconds: Double, stop: () -> Bool = { false }) {
        guard seconds > 0 else { return }
        // Longer than timespec can say (or infinite): as good as forever.
        let seconds = min(seconds, Double(Int32.max))
        var req = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - seconds.rounded(.down)) * 1e9))
        var rem = timespec()
        while nanosleep(&req, &rem) != 0 && errno == EINTR && !stop() { req = rem }
    }

    /// `mp.time()`: monotonic wall clock in float seconds.
    static let luaTime: LuaCFunction = { L in
        guard let L else { return 0 }
        Lua(L).push(now())
        return 1
    }

    /// `mp.sleep(seconds)`.
    static let luaSleep: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let s = lua.toNumber(1) else {
            return lua.raise("bad argument #1 to 'sleep' (number expected, got \(lua.typeName(at: 1)))")
        }
        if s.isNaN { return lua.raise("bad argument #1 to 'sleep' (not a number)") }
        // Ctrl-C's handler arms a hook that raises "interrupted!" at the next
        // instruction: return early so it does, instead of sleeping on.
        sleep(s) { forklift_interrupt_pending(L) != 0 }
        return 0
    }
}
