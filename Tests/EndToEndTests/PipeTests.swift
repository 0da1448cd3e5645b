import Foundation
import Testing

/// `mp.Pipe` between processes: values, sizes, end of stream, poll,
/// directions, connections crossing to other processes, misuse.
@Suite("mp.Pipe", .serialized)
struct PipeTests {
    /// A child echoing every value back until it receives the string "stop"
    /// (a daemon, so a failed assertion ends the script instead of hanging it).
    static let echo = """
        local mp = require "multiprocessing"
        local here, there = mp.Pipe()
        local echo = mp.Process{daemon = true, target = function(conn)
          while true do
            local v = conn:recv()
            if v == "stop" then break end
            conn:send(v)
          end
        end, args = {there}}
        echo:start()
        local function roundtrip(v) here:send(v); return here:recv() end

        """

    @Test func everyValueKindCrossesAndComesBack() throws {
        let r = try Forklift.runScript(Self.echo + """
            local function same(a, b) return a == b and math.type(a) == math.type(b) end
            assert(roundtrip(nil) == nil)
            assert(roundtrip(true) == true and roundtrip(false) == false)
            for _, i in ipairs{0, 1, -1, 127, 128, -129, 2^31 | 0, math.maxinteger, math.mininteger} do
              assert(same(roundtrip(i), i), i)
            end
            for _, x in ipairs{0.5, -2.25, 1e308, 5e-324, math.huge, -math.huge, 3.0} do
              assert(same(roundtrip(x), x), x)
            end
            local nan = roundtrip(0/0); assert(nan ~= nan)
            assert(1 / roundtrip(-0.0) == -math.huge)
            assert(roundtrip("") == "" and roundtrip("a\\0b\\255") == "a\\0b\\255")
            local t = {1, 2, {3, {4}}, name = "t", [2.5] = "float key", [true] = false}
            t.self = t; t.shared = t[3]; t.again = t[3]
            local u = roundtrip(t)
            assert(u[1] == 1 and u[3][2][1] == 4 and u.name == "t" and u[2.5] == "float key" and u[true] == false)
            assert(u.self == u and u.shared == u[3] and u.again == u[3] and u ~= t)
            local k = 10
            local add = roundtrip(function(x) return x + k end)
            assert(add(5) == 15)
            local sq = roundtrip(function(x) return math.sqrt(x) end)
            assert(sq(81) == 9)
            assert(roundtrip(math.sqrt) == math.sqrt and roundtrip(string) == string and roundtrip(mp) == mp)
            local e = roundtrip(mp._error("ValueError", "sent error"))
            assert(e.kind == "ValueError" and tostring(e) == "ValueError: sent error")
            here:send("stop"); echo:join()
            print("ok", echo.exitcode)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "ok\t0\n")
    }

    @Test func largeMessagesBothWays() throws {
        let r = try Forklift.runScript(Self.echo + """
            for _, n in ipairs{65535, 65536, 65537, 200 * 1024, 17 * 1024 * 1024} do
              local s = string.rep("ab\\0", n // 3) .. string.rep("z", n % 3)
              local back = roundtrip(s)
              assert(#back == n and back == s, n)
            end
            local big = {}
            for i = 1, 300000 do big[i] = i * 3 end
            local back = roundtrip(big)
            assert(#back == 300000 and back[300000] == 900000)
            -- raw bytes too
            here:send_bytes(string.rep("r", 70000)); here:send("stop")
            print("ok")
            echo:join()
            """, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "ok\n")
    }

    @Test func smallMessagesFromManyProcessesOnOneEndStayWhole() throws {
        // A frame under PIPE_BUF goes out in one write, which the kernel never
        // interleaves with another writer's (as with Python, bigger messages
        // from several writers at once on one end are not safe).
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local r, w = mp.Pipe(false)
            local ps = {}
            for i = 1, 4 do
              ps[i] = mp.Process{target = function()
                for k = 1, 500 do w:send({from = i, k = k, pad = string.rep("x", 1000)}) end
              end}
              ps[i]:start()
            end
            w:close()
            local last, count = {0, 0, 0, 0}, 0
            for _ = 1, 2000 do
              local m = r:recv()
              assert(m.k == last[m.from] + 1 and #m.pad == 1000, "out of order or torn")
              last[m.from] = m.k
              count = count + 1
            end
            for i = 1, 4 do ps[i]:join() end
            print(count, pcall(r.recv, r))
            """, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("2000\tfalse\tEOF: "), "\(r.stdout)")
    }

    @Test func eofAfterTheOtherEndClosedAndDrained() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local p = mp.Process{target = function(conn)
              for i = 1, 3 do conn:send(i) end
              conn:close()
            end, args = {b}}
            p:start()
            b:close()  -- our copy, or the stream never ends
            p:join()
            local got = {}
            for i = 1, 3 do got[i] = a:recv() end
            print(table.concat(got, ","))
            print(a:poll(), a:poll(0))
            local ok, e = pcall(a.recv, a)
            print(ok, e.kind, e.message)
            ok, e = pcall(a.recv, a)
            print(ok, e.kind)
            ok, e = pcall(a.send, a, "to nobody")
            print(ok, e.kind)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            1,2,3
            true\ttrue
            false\tEOF\tthe other end of the connection is closed
            false\tEOF
            false\tEOF

            """)
    }

    @Test func pollWithAndWithoutTimeout() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local t0 = mp.time()
            print("empty", a:poll(), a:poll(0))
            assert(mp.time() - t0 < 1, "poll() must answer at once (it would wait forever otherwise)")
            t0 = mp.time()
            print("timeout", a:poll(0.2))
            local waited = mp.time() - t0
            assert(waited >= 0.19 and waited < 3, waited)
            local p = mp.Process{target = function(conn) mp.sleep(0.15); conn:send("late") end, args = {b}}
            p:start()
            t0 = mp.time()
            print("arrives", a:poll(10), a:poll(), a:recv())
            assert(mp.time() - t0 < 5)
            print("drained", a:poll())
            local ok, e = pcall(a.poll, a, "soon")
            print(ok, e.kind)
            print("negative", a:poll(-1), a:poll(0/0))
            -- Timeouts too large for milliseconds wait (here: data arrives), never crash.
            b:send(1); b:send(2)
            print("huge", a:poll(math.huge), a:recv(), a:poll(1e300), a:recv())
            p:join()
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "empty\tfalse\tfalse\ntimeout\tfalse\narrives\ttrue\ttrue\tlate\ndrained\tfalse\nfalse\tValueError\nnegative\tfalse\tfalse\nhuge\ttrue\t1\ttrue\t2\n")
    }

    @Test func oneWayPipes() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local reader, writer = mp.Pipe(false)
            print(tostring(reader), tostring(writer))
            local function err(f, ...) local ok, e = pcall(f, ...); return ok, e.kind, e.message end
            print(err(reader.send, reader, 1))
            print(err(writer.recv, writer))
            print(err(writer.poll, writer))
            local p = mp.Process{target = function(w) w:send({from = "child"}) end, args = {writer}}
            p:start()
            print(reader:recv().from)
            p:join()
            local r2, w2 = mp.Pipe(true)
            print(tostring(r2), tostring(w2))
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            Connection (read)\tConnection (write)
            false\tStateError\tconnection is read-only
            false\tStateError\tconnection is write-only
            false\tStateError\tconnection is write-only
            child
            Connection (duplex)\tConnection (duplex)

            """)
    }

    @Test func bothEndsPassedToAProcess() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local report_r, report_w = mp.Pipe(false)
            local p = mp.Process{target = function(x, y, report)
              x:send("x to y"); local one = y:recv()
              y:send("y to x"); local two = x:recv()
              report:send(one .. "|" .. two)
            end, args = {a, b, report_w}}
            p:start()
            print(report_r:recv())
            p:join()
            -- The parent's copies still work after the child is gone.
            a:send("after"); print(b:recv())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "x to y|y to x\nafter\n")
    }

    @Test func connectionPassedThroughAConnectionToAnEarlierProcess() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local control, control_child = mp.Pipe()
            local worker = mp.Process{target = function(ctl)
              local conn = ctl:recv()           -- a pipe made after this process was forked
              conn:send("hello from " .. mp.current_process().name)
              local reader = ctl:recv()         -- a read-only end
              conn:send("relayed " .. reader:recv())
            end, args = {control_child}}
            worker:start()
            local x, y = mp.Pipe()
            control:send(y)
            print(x:recv())
            local r, w = mp.Pipe(false)
            control:send(r)
            w:send("one-way")
            print(x:recv())
            worker:join()
            print(worker.exitcode)
            -- Sending a connection to this same process gives a working copy.
            local c1, c2 = mp.Pipe()
            local copy = mp._decode(mp._encode(c1))
            copy:send("via copy"); print(c2:recv())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "hello from Process-1\nrelayed one-way\n0\nvia copy\n")
    }

    @Test func rawBytesWithOffsetsLimitsAndStateProperties() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local rd, wr = mp.Pipe(false)
            print(a.closed, a.readable, a.writable, rd.readable, rd.writable, wr.readable, wr.writable, a.nosuch)
            a:send_bytes("hello world", 7); print(b:recv_bytes())
            a:send_bytes("hello world", 1, 5); print(b:recv_bytes())
            a:send_bytes("hello world", 12); print(#b:recv_bytes())
            a:send_bytes("\\0\\1\\2", 2, 1); print(b:recv_bytes() == "\\1")
            local function err(f, ...) local ok, e = pcall(f, ...); return ok, e.kind, e.message end
            print(err(a.send_bytes, a, "abc", 5))
            print(err(a.send_bytes, a, "abc", 0))
            print(err(a.send_bytes, a, "abc", 2, 3))
            print(err(a.send_bytes, a, "abc", 1, -1))
            a:send_bytes("exactly")
            print(b:recv_bytes(7))
            a:send_bytes("0123456789")
            print(err(b.recv_bytes, b, 5))
            print(b.closed, b.readable, err(b.recv, b))
            a:close()
            print(a.closed, a.readable, a.writable)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            false\ttrue\ttrue\ttrue\tfalse\tfalse\ttrue\tnil
            world
            hello
            0
            true
            false\tValueError\tsend_bytes offset 5 is outside the string (length 3)
            false\tValueError\tsend_bytes offset 0 is outside the string (length 3)
            false\tValueError\tsend_bytes offset + size is past the end of the string
            false\tValueError\tsend_bytes size must be a non-negative integer
            exactly
            false\tOSError\tbad message length: 10 bytes, maxlength 5
            true\tfalse\tfalse\tStateError\tconnection is closed
            true\tfalse\tfalse

            """)
    }

    @Test func closedConnectionsRaiseStateError() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            a:close(); a:close()
            for _, m in ipairs{"send", "recv", "poll", "send_bytes", "recv_bytes", "fileno"} do
              local ok, e = pcall(a[m], a, "x")
              print(m, ok, e.kind, e.message)
            end
            print(tostring(a))
            local ok, e = pcall(mp._encode, a)
            print(ok, e.kind)
            do local c <close>, d = mp.Pipe() end
            print(pcall(a.send))
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            send\tfalse\tStateError\tconnection is closed
            recv\tfalse\tStateError\tconnection is closed
            poll\tfalse\tStateError\tconnection is closed
            send_bytes\tfalse\tStateError\tconnection is closed
            recv_bytes\tfalse\tStateError\tconnection is closed
            fileno\tfalse\tStateError\tconnection is closed
            Connection (closed)
            false\tNotSendable
            false\tValueError: send expects a Connection (use conn:send(...))

            """)
    }

    @Test func notSendableIsRefusedBeforeAnythingIsWritten() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local ok, e = pcall(a.send, a, {1, 2, {log = io.stdout}})
            print(ok, e.kind, e.message)
            print(b:poll())
            ok, e = pcall(a.send, a, {co = coroutine.create(print)})
            print(e.message)
            a:send("fine"); print(b:recv())
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            false\tNotSendable\tcannot send userdata (FILE*) at value[3].log
            false
            cannot send coroutine at value.co
            fine

            """)
    }

    @Test func malformedFramesRaiseClearErrors() throws {
        let r = try Forklift.runScript("""
            local mp = require "multiprocessing"
            local a, b = mp.Pipe()
            local function try(payload)
              a:send_bytes(payload)
              local ok, e = pcall(b.recv, b)
              print(ok, e.kind, e.message)
            end
            try("garbage")
            try("")
            try(mp._encode(1, 2))
            try(mp._encode("x"):sub(1, -2))
            try(mp._encode({1, 2, 3}) .. "extra")
            -- The stream is still in step afterwards.
            a:send({ok = true}); print(b:recv().ok)
            print(mp._decode(b:recv_bytes(a:send("raw"))))
            -- A frame cut short by a writer that died: EOF, not a hang or a crash.
            local r, w = mp.Pipe(false)
            local p = mp.Process{target = function(conn)
              local f = assert(io.open("/proc/self/fd/" .. conn:fileno(), "wb"))
              f:write("\\100\\0\\0\\0abc"); f:close()
            end, args = {w}}
            p:start(); p:join(); w:close()
            local ok, e = pcall(r.recv, r)
            print(ok, e.kind, e.message)
            -- A header claiming an absurd length: refused, nothing huge allocated.
            local r2, w2 = mp.Pipe(false)
            local q = mp.Process{target = function(conn)
              local f = assert(io.open("/proc/self/fd/" .. conn:fileno(), "wb"))
              f:write("\\255\\255\\255\\255" .. string.pack("<I8", 1 << 60)); f:close()
            end, args = {w2}}
            q:start(); q:join(); w2:close()
            ok, e = pcall(r2.recv, r2)
            print(ok, e.kind, e.message)
            local r3, w3 = mp.Pipe(false)
            local s = mp.Process{target = function(conn)
              local f = assert(io.open("/proc/self/fd/" .. conn:fileno(), "wb"))
              f:write("\\255\\255\\255\\255" .. string.pack("<I8", 1 << 37) .. "short"); f:close()
            end, args = {w3}}
            s:start(); s:join(); w3:close()
            ok, e = pcall(r3.recv, r3)
            print(ok, e.kind, e.message)
            """)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            false\tValueError\tmalformed message: unknown message format version 103
            false\tValueError\tmalformed message: truncated message
            false\tValueError\tmalformed message: 2 values
            false\tValueError\tmalformed message: length 1 exceeds the message
            false\tValueError\tmalformed message: 5 stray bytes after the values
            true
            raw
            false\tEOF\tconnection broken: stream ended inside a frame
            false\tEOF\tconnection broken: frame length 1152921504606846976 is not plausible
            false\tEOF\tconnection broken: stream ended inside a frame

            """)
    }
}
