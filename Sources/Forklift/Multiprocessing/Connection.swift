internal import CLua
internal import CSystem
internal import Glibc

/// One end of a `mp.Pipe`: a Lua userdata holding up to two pipe descriptors
/// (Python's multiprocessing/connection.py). Messages are codec-encoded values
/// in length-prefixed frames.
struct Connection {
    var readFD: Int32
    var writeFD: Int32

    static let metatableName = "multiprocessing.Connection"

    var isClosed: Bool { readFD < 0 && writeFD < 0 }

    /// Pushes a new connection userdata owning `readFD`/`writeFD` (-1: none).
    static func push(_ lua: Lua, readFD: Int32, writeFD: Int32) {
        guard let raw = forklift_newuserdata(lua.L, MemoryLayout<Connection>.stride) else { return }
        raw.initializeMemory(as: Connection.self, repeating: Connection(readFD: readFD, writeFD: writeFD), count: 1)
        if luaL_newmetatable(lua.L, metatableName) != 0 {
            lua.newTable()
            MultiprocessingModule.register(lua, [
                ("send", send), ("recv", recv), ("poll", poll), ("close", close),
                ("send_bytes", sendBytes), ("recv_bytes", recvBytes), ("fileno", fileno),
            ])
            lua.push(function: index, upvalues: 1)
            lua.setField(-2, "__index")
            lua.push(function: close)
            lua.setField(-2, "__gc")
            lua.push(function: close)
            lua.setField(-2, "__close")
            lua.push(function: describe)
            lua.setField(-2, "__tostring")
        }
        lua_setmetatable(lua.L, -2)
    }

    /// The connection at `index`, or nil when it is not one.
    static func at(_ lua: Lua, _ index: Int32) -> UnsafeMutablePointer<Connection>? {
        luaL_testudata(lua.L, index, metatableName)?.assumingMemoryBound(to: Connection.self)
    }

    /// Resolves `self` for a method and checks the needed direction; nil
    /// after pushing the error to raise.
    private static func checked(_ lua: Lua, reading: Bool, _ method: String) -> UnsafeMutablePointer<Connection>? {
        guard let c = at(lua, 1) else {
            ModuleError.push(lua, .valueError, "\(method) expects a Connection (use conn:\(method)(...))")
            return nil
        }
        if c.pointee.isClosed {
            ModuleError.push(lua, .stateError, "connection is closed")
            return nil
        }
        if reading && c.pointee.readFD < 0 {
            ModuleError.push(lua, .stateError, "connection is write-only")
            return nil
        }
        if !reading && c.pointee.writeFD < 0 {
            ModuleError.push(lua, .stateError, "connection is read-only")
            return nil
        }
        return c
    }

    private static func sendFrame(_ lua: Lua, _ fd: Int32, _ payload: UnsafeRawBufferPointer) -> Int32 {
        do throws(SystemError) {
            try FrameIO.send(payload, to: FileDescriptor(rawValue: fd))
            return 0
        } catch {
            if error.errno == EPIPE { return ModuleError.raise(lua, .eof, "the other end of the connection is closed") }
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    /// `conn:send(value)`: encodes (refusing unsendable values before writing) and sends.
    static let send: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = checked(lua, reading: false, "send") else { return lua.raiseTop }
        if lua.top < 2 { lua.pushNil() }
        do throws(NotSendableError) {
            let message = try Codec.encode(lua, from: 2, count: 1)
            return sendFrame(lua, c.pointee.writeFD, message.bytes)
        } catch {
            return ModuleError.raise(lua, .notSendable, error.description)
        }
    }

    /// `conn:send_bytes(s [, offset [, size]])`: sends `s` (or `size` bytes of
    /// it from the 1-based `offset`) as raw bytes.
    static let sendBytes: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = checked(lua, reading: false, "send_bytes") else { return lua.raiseTop }
        guard let bytes = lua.stringBytes(2) else {
            return ModuleError.raise(lua, .valueError, "send_bytes expects a string, got \(lua.typeName(at: 2))")
        }
        var first = 1
        if !lua.isNoneOrNil(3) {
            guard let o = lua.toInteger(3), forklift_isinteger(L, 3) != 0 else {
                return ModuleError.raise(lua, .valueError, "send_bytes offset must be an integer")
            }
            guard o >= 1, o <= Int64(bytes.count) + 1 else {
                return ModuleError.raise(lua, .valueError, "send_bytes offset \(o) is outside the string (length \(bytes.count))")
            }
            first = Int(o)
        }
        var size = bytes.count - (first - 1)
        if !lua.isNoneOrNil(4) {
            guard let n = lua.toInteger(4), forklift_isinteger(L, 4) != 0, n >= 0 else {
                return ModuleError.raise(lua, .valueError, "send_bytes size must be a non-negative integer")
            }
            guard n <= Int64(size) else {
                return ModuleError.raise(lua, .valueError, "send_bytes offset + size is past the end of the string")
            }
            size = Int(n)
        }
        return sendFrame(lua, c.pointee.writeFD, UnsafeRawBufferPointer(rebasing: bytes[(first - 1)..<(first - 1 + size)]))
    }

    /// Waits until `fd` has data or its end; false when Ctrl-C came first.
    /// A blocking `read` is restarted after the SIGINT handler (SA_RESTART)
    /// and would never let the interrupt hook run; `poll` is never restarted.
    private static func waitForData(_ lua: Lua, _ fd: Int32) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while Glibc.poll(&p, 1, -1) < 0 {
            if errno != EINTR { return true }  // the read that follows reports it
            if forklift_interrupt_pending(lua.L) != 0 { return false }
        }
        return true
    }

    /// The next frame, or nil after pushing the error to raise.
    private static func receiveFrame(_ lua: Lua, _ fd: Int32) -> ReceivedFrame? {
        do throws(FrameIO.ReceiveError) {
            return try FrameIO.receive(from: FileDescriptor(rawValue: fd))
        } catch {
            switch error {
            case .endOfStream: ModuleError.push(lua, .eof, "the other end of the connection is closed")
            case .corrupt(let why): ModuleError.push(lua, .eof, "connection broken: \(why)")
            case .system(let e): ModuleError.push(lua, .osError, e.description)
            }
            return nil
        }
    }

    /// `conn:recv()`: the next value; `EOF` when the other end closed and nothing is left.
    static let recv: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = checked(lua, reading: true, "recv") else { return lua.raiseTop }
        // Interrupted: return, and the armed hook raises "interrupted!" at once.
        guard waitForData(lua, c.pointee.readFD) else { return 0 }
        guard let frame = receiveFrame(lua, c.pointee.readFD) else { return lua.raiseTop }
        do throws(DecodeError) {
            let n = try Codec.decode(lua, frame.bytes)
            if n != 1 { return ModuleError.raise(lua, .valueError, "malformed message: \(n) values") }
            return 1
        } catch {
            return ModuleError.raise(lua, .valueError, "malformed message: \(error.description)")
        }
    }

    /// `conn:recv_bytes([maxlength])`: the next message as a string. A longer
    /// message than `maxlength` closes the connection and raises `OSError`, as
    /// in Python (the stream is then out of step).
    static let recvBytes: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = checked(lua, reading: true, "recv_bytes") else { return lua.raiseTop }
        var limit = Int.max
        if !lua.isNoneOrNil(2) {
            guard let m = lua.toInteger(2), forklift_isinteger(L, 2) != 0, m >= 0 else {
                return ModuleError.raise(lua, .valueError, "recv_bytes maxlength must be a non-negative integer")
            }
            limit = Int(m)
        }
        // Interrupted: return, and the armed hook raises "interrupted!" at once.
        guard waitForData(lua, c.pointee.readFD) else { return 0 }
        guard let frame = receiveFrame(lua, c.pointee.readFD) else { return lua.raiseTop }
        if frame.count > limit {
            _ = close(L)
            return ModuleError.raise(lua, .osError, "bad message length: \(frame.count) bytes, maxlength \(limit)")
        }
        lua.push(bytes: frame.bytes)
        return 1
    }

    /// `__index`: the methods, and Python's `closed`, `readable`, `writable`.
    static let index: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        if lua.type(at: 2) == LUA_TSTRING, let c = at(lua, 1) {
            switch lua.toString(2) {
            case "closed": lua.push(c.pointee.isClosed); return 1
            case "readable": lua.push(c.pointee.readFD >= 0); return 1
            case "writable": lua.push(c.pointee.writeFD >= 0); return 1
            default: break
            }
        }
        lua.pushValue(at: 2)
        lua_rawget(L, forklift_protected_upvalueindex(1))
        return 1
    }

    /// `conn:poll([timeout])`: true when `recv` would not block (data or EOF).
    /// Without a timeout it answers at once.
    static let poll: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = checked(lua, reading: true, "poll") else { return lua.raiseTop }
        var timeout = 0.0
        if !lua.isNoneOrNil(2) {
            guard let t = lua.toNumber(2) else {
                return ModuleError.raise(lua, .valueError, "poll timeout must be a number, got \(lua.typeName(at: 2))")
            }
            timeout = max(0, t)
        }
        do throws(SystemError) {
            // Ctrl-C: answer false at once; the armed hook raises "interrupted!" next.
            lua.push(try FileDescriptor(rawValue: c.pointee.readFD).waitReadable(timeout: timeout) { forklift_interrupt_pending(L) != 0 })
            return 1
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    /// `conn:close()` (also `__gc` and `__close`): closes both descriptors; idempotent.
    static let close: LuaCFunction = { L in
        guard let L else { return 0 }
        guard let c = at(Lua(L), 1) else { return 0 }
        if c.pointee.readFD >= 0 { FileDescriptor(rawValue: c.pointee.readFD).close() }
        if c.pointee.writeFD >= 0 { FileDescriptor(rawValue: c.pointee.writeFD).close() }
        c.pointee.readFD = -1
        c.pointee.writeFD = -1
        return 0
    }

    static let fileno: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = at(lua, 1), !c.pointee.isClosed else {
            return ModuleError.raise(lua, .stateError, "connection is closed")
        }
        lua.push(Int64(c.pointee.readFD >= 0 ? c.pointee.readFD : c.pointee.writeFD))
        return 1
    }

    static let describe: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let c = at(lua, 1) else { return 0 }
        let mode = c.pointee.isClosed ? "closed" : c.pointee.readFD >= 0 && c.pointee.writeFD >= 0 ? "duplex" : c.pointee.readFD >= 0 ? "read" : "write"
        lua.push("Connection (\(mode))")
        return 1
    }

    /// `mp.Pipe([duplex = true])` → two connections. Pipe(false): the first receives, the second sends.
    static let pipe: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        let duplex = lua.isNoneOrNil(1) ? true : lua.toBool(1)
        do throws(SystemError) {
            let forward = try makePipe()
            enlarge(forward.write)
            if duplex {
                let backward = try makePipe()
                enlarge(backward.write)
                push(lua, readFD: backward.read.rawValue, writeFD: forward.write.rawValue)
                push(lua, readFD: forward.read.rawValue, writeFD: backward.write.rawValue)
            } else {
                push(lua, readFD: forward.read.rawValue, writeFD: -1)
                push(lua, readFD: -1, writeFD: forward.write.rawValue)
            }
            return 2
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    /// A 1 MiB pipe buffer carries bulk data ~1.6× faster (NOTES.md); best effort.
    private static func enlarge(_ fd: FileDescriptor) { _ = forklift_set_pipe_size(fd.rawValue, 1 << 20) }
}

extension Connection {
    /// A connection crosses as (sender pid, read fd, write fd). The receiver
    /// opens the same pipes through `/proc/<pid>/fd/<n>` (or `dup`s them when
    /// it is the sender), so it works for any process of the same user while
    /// the sender is alive — also for workers forked before the pipe existed.
    static let sendable = SendableObjectType(
        metatableName: metatableName, tag: 1,
        encode: { lua, index, out in
            guard let c = at(lua, index), !c.pointee.isClosed else { return "it is closed" }
            out.append(Int32(getpid()))
            out.append(c.pointee.readFD)
            out.append(c.pointee.writeFD)
            return nil
        },
        decode: { lua, reader in
            guard let pid = try? reader.read(Int32.self), let r = try? reader.read(Int32.self),
                let w = try? reader.read(Int32.self)
            else { return "truncated handle" }
            func reopen(_ fd: Int32, _ flags: Int32) -> Int32? {
                if fd < 0 { return -1 }
                if pid == getpid() {
                    let d = fcntl(fd, F_DUPFD_CLOEXEC, 0)
                    return d >= 0 ? d : nil
                }
                let d = open("/proc/\(pid)/fd/\(fd)", flags | O_CLOEXEC)
                return d >= 0 ? d : nil
            }
            guard let readFD = reopen(r, O_RDONLY) else {
                return "cannot open the pipe of process \(pid): \(SystemError("open").description)"
            }
            guard let writeFD = reopen(w, O_WRONLY) else {
                if readFD >= 0 { Glibc.close(readFD) }
                return "cannot open the pipe of process \(pid): \(SystemError("open").description)"
            }
            push(lua, readFD: readFD, writeFD: writeFD)
            return nil
        })
}
