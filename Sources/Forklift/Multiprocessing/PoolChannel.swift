internal import CLua
internal import Glibc
internal import CSystem

/// The pool's link to one worker, on the parent's side: a task pipe written
/// without ever blocking (an outbox holds what the pipe cannot take yet, so
/// the parent can always go on reading results — no deadlock when both
/// directions are full) and a result pipe read one frame at a time.
final class PoolChannel {
    let taskFD: FileDescriptor
    let resultFD: FileDescriptor
    private var outbox = ByteWriter(capacity: 0)
    private var sent = 0
    private(set) var closed = false

    static let metatableName = "multiprocessing.PoolChannel"

    init(taskFD: FileDescriptor, resultFD: FileDescriptor) throws(SystemError) {
        self.taskFD = taskFD
        self.resultFD = resultFD
        try taskFD.setNonBlocking(true)
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        taskFD.close()
        resultFD.close()
    }

    var pendingBytes: Int { outbox.count - sent }

    /// Queues a frame (already holding its 4-byte header) and writes what the pipe takes.
    func enqueue(_ frame: borrowing ByteWriter) throws(SystemError) {
        var written = 0
        if pendingBytes == 0 {
            outbox.reset()
            sent = 0
            written = try writeSome(frame.base, frame.count)
        }
        if written < frame.count {
            outbox.append(bytes: UnsafeRawBufferPointer(start: frame.base + written, count: frame.count - written))
        }
    }

    /// Writes as much of the outbox as the pipe takes now.
    func flush() throws(SystemError) {
        guard pendingBytes > 0 else { return }
        sent += try writeSome(outbox.base + sent, pendingBytes)
        if pendingBytes == 0 {
            outbox.reset()
            sent = 0
        }
    }

    private func writeSome(_ p: UnsafeRawPointer, _ n: Int) throws(SystemError) -> Int {
        var done = 0
        while done < n {
            let r = Glibc.write(taskFD.rawValue, p + done, n - done)
            if r > 0 {
                done += r
                continue
            }
            if r < 0 && errno == EINTR { continue }
            if r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            throw SystemError("write")
        }
        return done
    }
}

extension PoolChannel {
    static func box(_ lua: Lua, _ index: Int32) -> PoolChannel? {
        guard let raw = luaL_testudata(lua.L, index, metatableName),
            let p = raw.load(as: UnsafeRawPointer?.self)
        else { return nil }
        return Unmanaged<PoolChannel>.fromOpaque(p).takeUnretainedValue()
    }

    static func register(_ lua: Lua) {
        MultiprocessingModule.register(lua, [
            ("_channel", new), ("_pump", pump), ("_send_batch", sendBatch), ("_recv_batch", receiveBatch),
            ("_pipe", rawPipe), ("_closefd", closeFD), ("_check_sendable", checkSendable),
            ("_newtable", newTable),
        ])
    }

    /// True when the value at absolute `index` is only nil, booleans,
    /// numbers, strings and tables of them without metatables, nested at most
    /// 8 deep: such a value always crosses, and this walk costs far less than
    /// encoding it. false means "ask the encoder".
    static func isPlainData(_ L: OpaquePointer, _ index: Int32, depth: Int) -> Bool {
        let type = lua_type(L, index)
        if type == LUA_TNIL || type == LUA_TBOOLEAN || type == LUA_TNUMBER || type == LUA_TSTRING { return true }
        guard type == LUA_TTABLE, depth < 8, lua_checkstack(L, 4) != 0 else { return false }
        if lua_getmetatable(L, index) != 0 {
            lua_settop(L, -2)
            return false
        }
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            let top = lua_gettop(L)
            guard isPlainData(L, top - 1, depth: depth + 1), isPlainData(L, top, depth: depth + 1) else {
                lua_settop(L, -3)
                return false
            }
            lua_settop(L, -2)
        }
        return true
    }

    /// `mp._check_sendable(t, i, j [, root])`: raises `NotSendable` naming the
    /// first of `t[i..j]` that cannot cross (as `[k]`, or as `root` when
    /// given), so a call is refused before any of its tasks is sent. Plain
    /// values are only type-checked; tables, functions and userdata are encoded
    /// (into a scratch buffer that is thrown away).
    static let checkSendable: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard lua_type(L, 1) == LUA_TTABLE, let first = lua.toInteger(2), let last = lua.toInteger(3) else {
            return ModuleError.raise(lua, .valueError, "_check_sendable(t, i, j)")
        }
        let root = lua.toString(4)
        // One encoder for every item: its output is dropped after each one.
        var encoder: Encoder? = nil
        // Items are pushed in runs and popped together: for plain numbers and
        // strings the check is one C call per item, not two.
        let run: Int64 = 256
        guard lua.checkStack(Int32(run) + 8) else { return ModuleError.raise(lua, .valueError, "Lua stack exhausted") }
        let base = lua_gettop(L)
        var i = first
        while i <= last {
            let end = min(last, i + run - 1)
            while i <= end {
                let type = lua_rawgeti(L, 1, i)
                if (type > LUA_TSTRING || type == LUA_TLIGHTUSERDATA) && !isPlainData(L, lua_gettop(L), depth: 0) {
                    if encoder == nil { encoder = Encoder(lua) }
                    do throws(NotSendableError) {
                        try encoder?.encode(at: -1, root: root ?? "[\(i)]")
                    } catch {
                        return ModuleError.raise(lua, .notSendable, error.description)
                    }
                    if let n = encoder?.out.count, n > 1 << 20 { encoder = nil }
                }
                i += 1
            }
            lua_settop(L, base)
        }
        return 0
    }

    /// `mp._newtable(n)`: an empty table with room for `n` sequence items, so
    /// a million results are stored without the table regrowing (each regrowth
    /// rehashes and copies every item already there).
    static let newTable: LuaCFunction = { L in
        guard let L else { return 0 }
        let n = Lua(L).toInteger(1) ?? 0
        lua_createtable(L, Int32(clamping: max(0, min(n, 1 << 26))), 0)
        return 1
    }

    /// `mp._pipe([size])` → read fd, write fd (close-on-exec). `size` asks
    /// for a bigger pipe buffer (best effort: the kernel may refuse).
    static let rawPipe: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        do throws(SystemError) {
            let (r, w) = try makePipe()
            if let size = lua.toInteger(1), size > 0 { _ = forklift_set_pipe_size(w.rawValue, Int32(clamping: size)) }
            lua.push(Int64(r.rawValue))
            lua.push(Int64(w.rawValue))
            return 2
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
    }

    /// `mp._closefd(fd)`.
    static let closeFD: LuaCFunction = { L in
        guard let L else { return 0 }
        if let fd = Lua(L).toInteger(1), fd >= 0 { FileDescriptor(rawValue: Int32(fd)).close() }
        return 0
    }

    /// `mp._channel(taskfd, resultfd)`.
    static let new: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let t = lua.toInteger(1), let r = lua.toInteger(2) else {
            return ModuleError.raise(lua, .valueError, "_channel(taskfd, resultfd)")
        }
        let channel: PoolChannel
        do throws(SystemError) {
            channel = try PoolChannel(taskFD: FileDescriptor(rawValue: Int32(t)), resultFD: FileDescriptor(rawValue: Int32(r)))
        } catch {
            return ModuleError.raise(lua, .osError, error.description)
        }
        guard let slot = forklift_newuserdata(L, MemoryLayout<UnsafeRawPointer>.size) else { return 0 }
        slot.storeBytes(of: Unmanaged.passRetained(channel).toOpaque(), as: UnsafeRawPointer.self)
        if luaL_newmetatable(L, metatableName) != 0 {
            lua.newTable()
            MultiprocessingModule.register(lua, [
                ("enqueue", enqueue), ("recv", receive), ("close", closeChannel), ("pending", pending),
            ])
            lua.setField(-2, "__index")
            lua.push(function: release)
            lua.setField(-2, "__gc")
        }
        lua_setmetatable(L, -2)
        return 1
    }

    static let release: LuaCFunction = { L in
        guard let L, let raw = lua_touserdata(L, 1), let p = raw.load(as: UnsafeRawPointer?.self) else { return 0 }
        raw.storeBytes(of: nil, as: UnsafeRawPointer?.self)
        let channel = Unmanaged<PoolChannel>.fromOpaque(p)
        channel.takeUnretainedValue().close()
        channel.release()
        return 0
    }

    static let closeChannel: LuaCFunction = { L in
        guard let L else { return 0 }
        box(Lua(L), 1)?.close()
        return 0
    }

    static let pending: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        lua.push(box(lua, 1)?.pendingBytes ?? 0)
        return 1
    }

    /// Encodes a batch with a 4-byte frame header in front; nil after pushing the error.
    static func encodeFrame(_ lua: Lua, table: Int32, headerFrom: Int32) -> ByteWriter? {
        guard let first = lua.toInteger(table + 1), let last = lua.toInteger(table + 2) else {
            ModuleError.push(lua, .valueError, "batch range expected")
            return nil
        }
        do throws(NotSendableError) {
            var frame = try CodecBatch.encode(
                lua, headerIndex: headerFrom, headerCount: max(0, lua.top - headerFrom + 1), tableIndex: table,
                first: first, last: last, reservingHeader: 4)
            let payload = frame.count - 4
            guard payload < 0xFFFF_FFFF else {
                ModuleError.push(lua, .valueError, "a pool message of 4 GiB or more is not supported")
                return nil
            }
            frame.patch(UInt32(payload), at: 0)
            return frame
        } catch {
            ModuleError.push(lua, .notSendable, error.description)
            return nil
        }
    }

    /// `ch:enqueue(src, i, j, header...)`.
    static let enqueue: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let channel = box(lua, 1), !channel.closed else {
            return ModuleError.raise(lua, .stateError, "worker channel is closed")
        }
        guard let frame = encodeFrame(lua, table: 2, headerFrom: 5) else { return lua.raiseTop }
        do throws(SystemError) {
            try channel.enqueue(frame)
        } catch {
            // The worker is gone; its end is seen as EOF by `recv`.
            lua.push(false)
            return 1
        }
        lua.push(true)
        return 1
    }

    /// Reads one frame from `fd` and pushes header values and the items
    /// table; pushes nil and a reason at end of stream or on a broken frame.
    static func receiveFrom(
        _ lua: Lua, _ fd: FileDescriptor, into: Int32? = nil, offset: Int64 = 0, packedAsBlock: Bool = false
    ) -> Int32 {
        let frame: ReceivedFrame
        do throws(FrameIO.ReceiveError) {
            frame = try FrameIO.receive(from: fd)
        } catch {
            lua.pushNil()
            switch error {
            case .endOfStream: lua.push("eof")
            case .corrupt(let why): lua.push(why)
            case .system(let e): lua.push(e.description)
            }
            return 2
        }
        do throws(DecodeError) {
            return try CodecBatch.decode(lua, frame.bytes, into: into, offset: offset, packedAsBlock: packedAsBlock)
        } catch {
            return ModuleError.raise(lua, .valueError, "malformed pool message: \(error.description)")
        }
    }

    /// `ch:recv([dest, offset])` → header..., items | nil, reason.
    static let receive: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let channel = box(lua, 1), !channel.closed else {
            return ModuleError.raise(lua, .stateError, "worker channel is closed")
        }
        // `ch:recv(dest, offset)`: the items go straight into `dest`.
        if lua.type(at: 2) == LUA_TTABLE {
            return receiveFrom(lua, channel.resultFD, into: 2, offset: lua.toInteger(3) ?? 0)
        }
        return receiveFrom(lua, channel.resultFD)
    }

    /// `mp._pump(channels, timeout)`: writes pending tasks and waits (at most
    /// `timeout` seconds, nil forever) until some channel has a result to
    /// read; returns their positions in `channels`.
    static let pump: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        let n = lua.rawLength(1)
        var channels: [PoolChannel?] = []
        channels.reserveCapacity(n)
        for i in 0..<n {
            lua.rawGet(1, Int64(i + 1))
            channels.append(box(lua, -1))
            lua.pop()
        }
        let timeout = lua.toNumber(2)
        let deadline = timeout.map { Clock.now() + max(0, $0) }
        var ready: [Int] = []
        while true {
            // The task fd's writability is polled through a second entry.
            var entries: [pollfd] = []
            var owners: [(Int, Bool)] = []  // (channel position, is task fd)
            for (i, channel) in channels.enumerated() {
                guard let channel, !channel.closed else { continue }
                entries.append(pollfd(fd: channel.resultFD.rawValue, events: Int16(POLLIN), revents: 0))
                owners.append((i, false))
                if channel.pendingBytes > 0 {
                    entries.append(pollfd(fd: channel.taskFD.rawValue, events: Int16(POLLOUT), revents: 0))
                    owners.append((i, true))
                }
            }
            if entries.isEmpty { break }
            var ms: Int32 = -1
            if let deadline { ms = Int32(clamping: max(0, Int(((deadline - Clock.now()) * 1000).rounded(.up)))) }
            let r = poll(&entries, nfds_t(entries.count), ms)
            if r < 0 {
                // Ctrl-C armed the hook that raises "interrupted!": return to
                // Lua so it runs now, not after the next result.
                if errno == EINTR { if forklift_interrupt_pending(L) != 0 { break } else { continue } }
                return ModuleError.raise(lua, .osError, SystemError("poll").description)
            }
            for (k, entry) in entries.enumerated() where entry.revents != 0 {
                let (i, isTask) = owners[k]
                if isTask {
                    // A dead worker's task pipe errors: its result pipe reports EOF.
                    try? channels[i]?.flush()
                } else {
                    ready.append(i + 1)
                }
            }
            if !ready.isEmpty { break }
            if r == 0, let deadline, Clock.now() >= deadline { break }
        }
        guard lua.checkStack(Int32(ready.count) + 1) else { return ModuleError.raise(lua, .osError, "too many channels") }
        for i in ready { lua.push(i) }
        return Int32(ready.count)
    }

    /// Worker side: `mp._send_batch(fd, src, i, j, header...)`, blocking.
    static let sendBatch: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let fd = lua.toInteger(1) else { return ModuleError.raise(lua, .valueError, "fd expected") }
        guard let frame = encodeFrame(lua, table: 2, headerFrom: 5) else { return lua.raiseTop }
        do throws(SystemError) {
            try FileDescriptor(rawValue: Int32(fd)).writeAll(frame.base, count: frame.count)
            return 0
        } catch {
            return ModuleError.raise(lua, .eof, "the pool is gone: \(error.description)")
        }
    }

    /// Worker side: `mp._recv_batch(fd [, as_block])` → header..., items |
    /// nil, reason. With `as_block`, packed numbers come as a `PackedMapBlock`.
    static let receiveBatch: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let fd = lua.toInteger(1) else { return ModuleError.raise(lua, .valueError, "fd expected") }
        return receiveFrom(lua, FileDescriptor(rawValue: Int32(fd)), packedAsBlock: lua.toBool(2))
    }
}
