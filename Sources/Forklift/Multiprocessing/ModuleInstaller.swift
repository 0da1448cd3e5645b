internal import CLua
internal import Glibc

/// Settings the host passes to the `multiprocessing` module.
public struct ForkliftOptions: Sendable {
    /// Default pool size; nil means the number of CPUs.
    public var workers: Int?
    /// Draw progress bars for pool work on stderr.
    public var progress: Bool

    public init(workers: Int? = nil, progress: Bool = false) {
        self.workers = workers
        self.progress = progress
    }
}

extension LuaState {
    /// Makes `require "multiprocessing"` available in this state (through
    /// `package.preload`, so it loads on first use like any module).
    public func installMultiprocessing(options: ForkliftOptions = ForkliftOptions()) {
        MultiprocessingModule.options = options
        let lua = self.lua
        lua.preservingTop {
            lua_getglobal(L, "package")
            guard lua.type(at: -1) == LUA_TTABLE else { return }
            lua.getField(-1, "preload")
            guard lua.type(at: -1) == LUA_TTABLE else { return }
            lua.push(function: MultiprocessingModule.open)
            lua.setField(-2, "multiprocessing")
        }
    }
}

extension LuaState {
    /// What the host does when the main script has ended: daemon children
    /// are terminated and the others joined (as Python's `atexit` hook).
    public func finishMultiprocessing() {
        ChildRegistry.shared.finishAtExit()
    }
}
