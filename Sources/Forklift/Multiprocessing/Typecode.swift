internal import CLua
internal import CSystem

/// Element types of `Value` and `Array`, as Python's `array` module names
/// them (on Linux x86-64/arm64: `l`/`L` are 64-bit like `q`/`Q`).
/// A value that does not fit is refused, never wrapped.
enum Typecode: UInt8, CaseIterable {
    case b, B, h, H, i, I, l, L, q, Q, f, d

    init?(letter: String) {
        guard let c = Typecode.allCases.first(where: { $0.letter == letter }) else { return nil }
        self = c
    }

    var letter: String {
        switch self {
        case .b: "b"
        case .B: "B"
        case .h: "h"
        case .H: "H"
        case .i: "i"
        case .I: "I"
        case .l: "l"
        case .L: "L"
        case .q: "q"
        case .Q: "Q"
        case .f: "f"
        case .d: "d"
        }
    }

    var size: Int {
        switch self {
        case .b, .B: 1
        case .h, .H: 2
        case .i, .I, .f: 4
        case .l, .L, .q, .Q, .d: 8
        }
    }

    var isFloat: Bool { self == .f || self == .d }

    /// The integer range (for float typecodes: unused).
    var range: ClosedRange<Int64> {
        switch self {
        case .b: Int64(Int8.min)...Int64(Int8.max)
        case .B: 0...Int64(UInt8.max)
        case .h: Int64(Int16.min)...Int64(Int16.max)
        case .H: 0...Int64(UInt16.max)
        case .i: Int64(Int32.min)...Int64(Int32.max)
        case .I: 0...Int64(UInt32.max)
        case .l, .q, .f, .d: Int64.min...Int64.max
        case .L, .Q: 0...Int64.max  // and above, as floats (see `bits(for:)`)
        }
    }

    // MARK: Reading

    /// Pushes element `i` (0-based) of `base`.
    @inline(__always) func push(_ L: OpaquePointer, _ base: UnsafeRawPointer, _ i: Int) {
        switch self {
        case .d: lua_pushnumber(L, base.load(fromByteOffset: i &* 8, as: Double.self))
        case .i: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i &* 4, as: Int32.self)))
        case .q, .l: lua_pushinteger(L, base.load(fromByteOffset: i &* 8, as: Int64.self))
        case .f: lua_pushnumber(L, Double(base.load(fromByteOffset: i &* 4, as: Float.self)))
        case .b: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i, as: Int8.self)))
        case .B: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i, as: UInt8.self)))
        case .h: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i &* 2, as: Int16.self)))
        case .H: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i &* 2, as: UInt16.self)))
        case .I: lua_pushinteger(L, lua_Integer(base.load(fromByteOffset: i &* 4, as: UInt32.self)))
        case .Q, .L:
            let v = base.load(fromByteOffset: i &* 8, as: UInt64.self)
            // Above Lua's integers: the nearest float rather than a negative number.
            if v <= UInt64(Int64.max) { lua_pushinteger(L, lua_Integer(v)) } else { lua_pushnumber(L, Double(v)) }
        }
    }

    // MARK: Writing

    /// The bit pattern storing the Lua value at `index`, or why it cannot be stored.
    @inline(__always) func bits(_ L: OpaquePointer, _ index: Int32) -> Result<UInt64, ElementError> {
        guard lua_type(L, index) == LUA_TNUMBER else { return .failure(.notANumber) }
        if isFloat {
            var ok: Int32 = 0
            let d = forklift_tonumberx(L, index, &ok)
            return bits(float: d)
        }
        if forklift_isinteger(L, index) != 0 {
            return bits(integer: forklift_tointegerx(L, index, nil))
        }
        var ok: Int32 = 0
        let d = forklift_tonumberx(L, index, &ok)
        return bits(integralFloat: d)
    }

    func bits(float d: Double) -> Result<UInt64, ElementError> {
        if self == .d { return .success(d.bitPattern) }
        if d.isFinite && abs(d) > Double(Float.greatestFiniteMagnitude) { return .failure(.outOfRange(self)) }
        return .success(UInt64(Float(d).bitPattern))
    }

    func bits(integer v: Int64) -> Result<UInt64, ElementError> {
        if isFloat { return bits(float: Double(v)) }
        guard range.contains(v) else { return .failure(.outOfRange(self)) }
        return .success(UInt64(bitPattern: v))
    }

    /// A float given for an integer typecode: accepted when it is a whole number in range.
    func bits(integralFloat d: Double) -> Result<UInt64, ElementError> {
        guard d.isFinite, d == d.rounded(.towardZero) else { return .failure(.notAnInteger) }
        if (self == .Q || self == .L) && d >= 9223372036854775808.0 {
            guard d < 18446744073709551616.0 else { return .failure(.outOfRange(self)) }
            return .success(UInt64(d))
        }
        guard d >= -9223372036854775808.0 && d < 9223372036854775808.0 else { return .failure(.outOfRange(self)) }
        return bits(integer: Int64(d))
    }

    /// Stores `bits` as element `i` (0-based) of `base`.
    @inline(__always) func store(_ bits: UInt64, _ base: UnsafeMutableRawPointer, _ i: Int) {
        switch size {
        case 8: base.storeBytes(of: bits, toByteOffset: i &* 8, as: UInt64.self)
        case 4: base.storeBytes(of: UInt32(truncatingIfNeeded: bits), toByteOffset: i &* 4, as: UInt32.self)
        case 2: base.storeBytes(of: UInt16(truncatingIfNeeded: bits), toByteOffset: i &* 2, as: UInt16.self)
        default: base.storeBytes(of: UInt8(truncatingIfNeeded: bits), toByteOffset: i, as: UInt8.self)
        }
    }

    // MARK: Atomic add

    /// Adds the number at `index` to the element at `p` atomically (compare
    /// and swap, so a sum that does not fit changes nothing) and pushes the
    /// new value.
    func atomicAdd(_ L: OpaquePointer, _ index: Int32, at p: UnsafeMutableRawPointer) -> ElementError? {
        if !isFloat && forklift_isinteger(L, index) != 0 {
            return addInteger(forklift_tointegerx(L, index, nil), L, p)
        }
        guard lua_type(L, index) == LUA_TNUMBER else { return .notANumber }
        var ok: Int32 = 0
        if isFloat {
            let k = forklift_tonumberx(L, index, &ok)
            if self == .d {
                let w = p.assumingMemoryBound(to: UInt64.self)
                var seen: UInt64 = 0  // a guess: see `add`
                while true {
                    let new = Double(bitPattern: seen) + k
                    if forklift_cas64(w, &seen, new.bitPattern) {
                        lua_pushnumber(L, new)
                        return nil
                    }
                }
            }
            let w = p.assumingMemoryBound(to: UInt32.self)
            var seen = forklift_load32(w)
            while true {
                let new = Double(Float(bitPattern: seen)) + k
                guard case .success(let b) = bits(float: new) else { return .outOfRange(self) }
                if forklift_cas32(w, &seen, UInt32(b)) {
                    lua_pushnumber(L, Double(Float(bitPattern: UInt32(b))))
                    return nil
                }
            }
        }
        let d = forklift_tonumberx(L, index, &ok)
        guard d.isFinite, d == d.rounded(.towardZero), abs(d) < 9.2e18 else { return .notAnInteger }
        return addInteger(Int64(d), L, p)
    }

    /// `atomicAdd` for integer typecodes.
    @inline(__always)
    private func addInteger(_ k: Int64, _ L: OpaquePointer, _ p: UnsafeMutableRawPointer) -> ElementError? {
        switch self {
        case .i: return add(k, p.assumingMemoryBound(to: UInt32.self), L, load: forklift_load32, cas: forklift_cas32) { Int64(Int32(bitPattern: $0)) }
        case .I: return add(k, p.assumingMemoryBound(to: UInt32.self), L, load: forklift_load32, cas: forklift_cas32) { Int64($0) }
        case .q, .l: return add(k, p.assumingMemoryBound(to: UInt64.self), L, load: forklift_load64, cas: forklift_cas64) { Int64(bitPattern: $0) }
        case .b: return add(k, p.assumingMemoryBound(to: UInt8.self), L, load: forklift_load8, cas: forklift_cas8) { Int64(Int8(bitPattern: $0)) }
        case .B: return add(k, p.assumingMemoryBound(to: UInt8.self), L, load: forklift_load8, cas: forklift_cas8) { Int64($0) }
        case .h: return add(k, p.assumingMemoryBound(to: UInt16.self), L, load: forklift_load16, cas: forklift_cas16) { Int64(Int16(bitPattern: $0)) }
        case .H: return add(k, p.assumingMemoryBound(to: UInt16.self), L, load: forklift_load16, cas: forklift_cas16) { Int64($0) }
        case .Q, .L:
            let w = p.assumingMemoryBound(to: UInt64.self)
            var seen = forklift_load64(w)
            while true {
                let (new, overflow) = k >= 0 ? seen.addingReportingOverflow(UInt64(k)) : seen.subtractingReportingOverflow(k.magnitude)
                if overflow { return .outOfRange(self) }
                if forklift_cas64(w, &seen, new) {
                    if new <= UInt64(Int64.max) { lua_pushinteger(L, lua_Integer(new)) } else { lua_pushnumber(L, Double(new)) }
                    return nil
                }
            }
        case .f, .d: return nil
        }
    }

    @inline(__always) private func add<W: FixedWidthInteger>(
        _ k: Int64, _ w: UnsafeMutablePointer<W>, _ L: OpaquePointer,
        load: (UnsafePointer<W>) -> W, cas: (UnsafeMutablePointer<W>, UnsafeMutablePointer<W>, W) -> Bool,
        widen: (W) -> Int64
    ) -> ElementError? {
        // No load first: a compare-and-swap takes the cache line exclusively
        // even when it fails (and then tells the value), where a load would
        // fetch it shared and the swap fetch it again. So: guess, then retry.
        var seen: W = 0
        var guessing = true
        while true {
            let (new, overflow) = widen(seen).addingReportingOverflow(k)
            if overflow || !range.contains(new) {
                if guessing {
                    seen = load(w)
                    guessing = false
                    continue
                }
                return .outOfRange(self)
            }
            if cas(w, &seen, W(truncatingIfNeeded: new)) {
                lua_pushinteger(L, new)
                return nil
            }
            guessing = false
        }
    }
}

/// Why a Lua value cannot be stored in an element.
enum ElementError: Error {
    case notANumber, notAnInteger, outOfRange(Typecode)

    var message: String {
        switch self {
        case .notANumber: "a number is expected"
        case .notAnInteger: "number has no integer representation"
        case .outOfRange(let t):
            t.isFloat
                ? "value out of range for typecode '\(t.letter)'"
                : (t == .Q || t == .L
                    ? "value out of range for typecode '\(t.letter)' (0 to 18446744073709551615)"
                    : "value out of range for typecode '\(t.letter)' (\(t.range.lowerBound) to \(t.range.upperBound))")
        }
    }
}
