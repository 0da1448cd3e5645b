internal import Glibc

/// A growable byte buffer the codec writes messages into. It owns its memory.
struct ByteWriter: ~Copyable {
    private(set) var base: UnsafeMutableRawPointer
    private(set) var capacity: Int
    /// Bytes written so far.
    var count: Int = 0

    init(capacity: Int = 256) {
        self.capacity = Swift.max(capacity, 16)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    /// Makes room for `n` more bytes.
    @inline(__always) mutating func reserve(_ n: Int) {
        if count + n > capacity { grow(to: count + n) }
    }

    private mutating func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always) mutating func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Appends a fixed-width integer, little-endian.
    @inline(__always) mutating func append<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        (base + count).storeBytes(of: value.littleEndian, as: T.self)
        count += MemoryLayout<T>.size
    }

    /// Appends an unsigned LEB128 varint (small lengths and indices take one byte).
    @inline(__always) mutating func appendVarint(_ value: UInt64) {
        reserve(10)
        storeVarint(value)
    }

    /// A tag byte then a varint, with one capacity check (the codec's integers).
    @inline(__always) mutating func append(tag: UInt8, varint value: UInt64) {
        reserve(11)
        base.storeBytes(of: tag, toByteOffset: count, as: UInt8.self)
        count += 1
        storeVarint(value)
    }

    /// Writes a varint into room the caller reserved (at most 10 bytes).
    @inline(__always) private mutating func storeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: count, as: UInt8.self)
            count += 1
            v >>= 7
        }
        base.storeBytes(of: UInt8(v), toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func append(bytes: UnsafeRawBufferPointer) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: src, byteCount: bytes.count)
        count += bytes.count
    }

    /// Overwrites 4 bytes at `offset` (for a length patched in after the body).
    mutating func patch(_ value: UInt32, at offset: Int) {
        (base + offset).storeBytes(of: value.littleEndian, as: UInt32.self)
    }

    /// Forgets the contents, keeping the memory.
    mutating func reset() { count = 0 }

    /// The bytes written, valid until the next mutation.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}

/// Why bytes could not be decoded.
struct DecodeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Bounds-checked reading over bytes owned by someone else (a received frame,
/// a Lua string on the stack). Every read checks the remaining length first.
struct ByteReader {
    let base: UnsafeRawPointer
    let count: Int
    var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        // An empty buffer may have no address; point at a static byte instead.
        self.base = bytes.baseAddress ?? UnsafeRawPointer(ByteReader.emptyByte)
        self.count = bytes.count
    }

    nonisolated(unsafe) private static let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

    var remaining: Int { count - offset }
    var isAtEnd: Bool { offset >= count }

    @inline(__always) mutating func readByte() throws(DecodeError) -> UInt8 {
        guard offset < count else { throw DecodeError("truncated message") }
        let b = base.load(fromByteOffset: offset, as: UInt8.self)
        offset += 1
        return b
    }

    @inline(__always) mutating func read<T: FixedWidthInteger>(_: T.Type) throws(DecodeError) -> T {
        guard remaining >= MemoryLayout<T>.size else { throw DecodeError("truncated message") }
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return v
    }

    @inline(__always) mutating func readVarint() throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readByte()
            if shift == 63 && b > 1 { throw DecodeError("varint overflows 64 bits") }
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw DecodeError("varint overflows 64 bits") }
        }
    }

    /// A length that must fit in what is left of the message (so a corrupt
    /// length can never make the decoder allocate or read past the end).
    @inline(__always) mutating func readLength(elementSize: Int = 1) throws(DecodeError) -> Int {
        let n = try readVarint()
        guard n <= UInt64(remaining / Swift.max(elementSize, 1)) else {
            throw DecodeError("length \(n) exceeds the message")
        }
        return Int(n)
    }

    /// The next `n` bytes (already bounds-checked by `readLength`).
    mutating func readBytes(_ n: Int) throws(DecodeError) -> UnsafeRawBufferPointer {
        guard n >= 0, remaining >= n else { throw DecodeError("truncated message") }
        let r = UnsafeRawBufferPointer(start: base + offset, count: n)
        offset += n
        return r
    }
}
