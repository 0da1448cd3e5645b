internal import Glibc

/// Length-prefixed frames on a byte stream (pipe or socket): a 4-byte
/// little-endian length, or 0xFFFFFFFF and an 8-byte length for frames of
/// 4 GiB and more, then the payload.
enum FrameIO {
    /// Frames larger than this are refused on receipt as corrupt.
    static let maxFrame: UInt64 = 1 << 38

    /// Bytes of header to reserve in front of a payload of `count` bytes.
    static func headerSize(for count: Int) -> Int { count >= 0xFFFF_FFFF ? 12 : 4 }

    /// Writes the header for `count` bytes at `base` (which has `headerSize(for:)` bytes).
    static func writeHeader(_ count: Int, at base: UnsafeMutableRawPointer) {
        if count >= 0xFFFF_FFFF {
            base.storeBytes(of: UInt32(0xFFFF_FFFF).littleEndian, as: UInt32.self)
            (base + 4).storeBytes(of: UInt64(count).littleEndian, toByteOffset: 0, as: UInt64.self)
        } else {
            base.storeBytes(of: UInt32(count).littleEndian, as: UInt32.self)
        }
    }

    /// Sends one frame.
    static func send(_ payload: UnsafeRawBufferPointer, to fd: FileDescriptor) throws(SystemError) {
        var header: (UInt64, UInt32) = (0, 0)
        let headerCount = headerSize(for: payload.count)
        try withUnsafeMutableBytes(of: &header) { (h) throws(SystemError) in
            guard let base = h.baseAddress else { return }
            writeHeader(payload.count, at: base)
            if payload.count <= 65536 {
                // Small frames: one write, so a frame is never split by the kernel
                // below PIPE_BUF-like sizes and costs one syscall.
                var frame = ByteWriter(capacity: headerCount + payload.count)
                frame.append(bytes: UnsafeRawBufferPointer(start: base, count: headerCount))
                frame.append(bytes: payload)
                try fd.writeAll(frame.base, count: frame.count)
            } else {
                try fd.writeAll(base, count: headerCount)
                if let p = payload.baseAddress { try fd.writeAll(p, count: payload.count) }
            }
        }
    }

    /// Why a frame could not be received.
    enum ReceiveError: Error {
        /// The stream ended cleanly before a new frame.
        case endOfStream
        /// The stream ended inside a frame, or the header is corrupt.
        case corrupt(String)
        case system(SystemError)
    }

    /// Receives one frame into a buffer the caller owns.
    static func receive(from fd: FileDescriptor) throws(ReceiveError) -> ReceivedFrame {
        var header: UInt32 = 0
        let gotHeader: Bool
        do {
            gotHeader = try withUnsafeMutableBytes(of: &header) { (h) throws(SystemError) in
                try fd.readExactly(into: h.baseAddress.unsafelyUnwrapped, count: 4)
            }
        } catch {
            if error.errno == EIO { throw .corrupt("stream ended inside a frame header") }
            throw .system(error)
        }
        guard gotHeader else { throw .endOfStream }
        var length = UInt64(UInt32(littleEndian: header))
        if length == 0xFFFF_FFFF {
            var long: UInt64 = 0
            do {
                let ok = try withUnsafeMutableBytes(of: &long) { (h) throws(SystemError) in
                    try fd.readExactly(into: h.baseAddress.unsafelyUnwrapped, count: 8)
                }
                guard ok else { throw ReceiveError.corrupt("stream ended inside a frame header") }
            } catch let e as ReceiveError {
                throw e
            } catch {
                throw .corrupt("stream ended inside a frame header")
            }
            length = UInt64(littleEndian: long)
        }
        guard length <= maxFrame else { throw .corrupt("frame length \(length) is not plausible") }
        // The buffer grows with the bytes that actually arrive, so a corrupt or
        // hostile header cannot make this process allocate what it claims.
        let total = Int(length)
        guard let frame = ReceivedFrame(capacity: min(total, initialCapacity)) else {
            throw .system(SystemError("malloc", errno: ENOMEM))
        }
        var done = 0
        while done < total {
            if done == frame.capacity {
                guard frame.grow(to: min(total, frame.capacity * 2)) else {
                    throw .system(SystemError("realloc", errno: ENOMEM))
                }
            }
            let n: Int
            do {
                n = try fd.read(into: frame.base + done, count: frame.capacity - done)
            } catch {
                throw .system(error)
            }
            if n == 0 { throw .corrupt("stream ended inside a frame") }
            done += n
        }
        frame.count = total
        return frame
    }

    /// What a frame's buffer starts with before its bytes arrive.
    static let initialCapacity = 4 << 20
}

/// The payload of a received frame; owns its memory.
final class ReceivedFrame {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes of payload (set once the whole frame has arrived).
    fileprivate(set) var count: Int = 0

    /// nil when the memory cannot be had.
    init?(capacity: Int) {
        guard let p = malloc(Swift.max(capacity, 1)) else { return nil }
        base = p
        self.capacity = Swift.max(capacity, 1)
    }

    /// Enlarges the buffer, keeping its contents; false when memory is short.
    fileprivate func grow(to newCapacity: Int) -> Bool {
        guard let p = realloc(base, newCapacity) else { return false }
        base = p
        capacity = newCapacity
        return true
    }

    deinit { free(base) }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
