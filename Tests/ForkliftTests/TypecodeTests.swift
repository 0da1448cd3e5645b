import Testing

@testable import Forklift

@Suite("typecodes: sizes, ranges, conversions")
struct TypecodeTests {
    @Test func lettersAndSizes() {
        #expect(Typecode.allCases.map(\.letter).joined() == "bBhHiIlLqQfd")
        #expect(Typecode.allCases.map(\.size) == [1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 4, 8])
        #expect(Typecode(letter: "x") == nil && Typecode(letter: "ii") == nil && Typecode(letter: "d") == .d)
    }

    @Test func integersOutsideTheRangeAreRefused() {
        for t in Typecode.allCases where !t.isFloat {
            let r = t.range
            #expect(t.bits(integer: r.lowerBound).isSuccess)
            #expect(t.bits(integer: r.upperBound).isSuccess)
            if r.lowerBound > Int64.min { #expect(!t.bits(integer: r.lowerBound - 1).isSuccess, "\(t)") }
            if r.upperBound < Int64.max { #expect(!t.bits(integer: r.upperBound + 1).isSuccess, "\(t)") }
        }
        #expect(Typecode.b.bits(integer: -1).value == UInt64(bitPattern: -1))
    }

    @Test func floatsForIntegerTypecodes() {
        #expect(Typecode.i.bits(integralFloat: 3.0).value == 3)
        #expect(!Typecode.i.bits(integralFloat: 3.5).isSuccess)
        #expect(!Typecode.i.bits(integralFloat: .nan).isSuccess)
        #expect(!Typecode.q.bits(integralFloat: 9.3e18).isSuccess)
        #expect(Typecode.Q.bits(integralFloat: 1.8e19).value == UInt64(1.8e19))
        #expect(!Typecode.Q.bits(integralFloat: 1.9e19).isSuccess)
        #expect(!Typecode.Q.bits(integralFloat: -1).isSuccess)
    }

    @Test func floatTypecodes() {
        #expect(Typecode.d.bits(float: 0.1).value == (0.1).bitPattern)
        #expect(Typecode.f.bits(float: 0.5).value == UInt64(Float(0.5).bitPattern))
        #expect(!Typecode.f.bits(float: 1e39).isSuccess)
        #expect(Typecode.f.bits(float: .infinity).isSuccess)
        #expect(Typecode.f.bits(integer: 3).value == UInt64(Float(3).bitPattern))
    }
}

extension Result {
    var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
    var value: Success? {
        if case .success(let v) = self { return v }
        return nil
    }
}
