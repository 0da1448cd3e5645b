import Testing

@testable import Forklift

@Suite("thread count before fork")
struct ThreadCountTests {
    func parse(_ text: String) -> Int? {
        Array(text.utf8).withUnsafeBufferPointer { ProcessControl.numThreads(inStat: $0) }
    }

    @Test func field20IsCountedFromTheLastParenthesis() {
        let rest = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 7 0 18 19 20"
        #expect(parse("123 (forklift) " + rest) == 7)
        // A command name with spaces and parentheses cannot shift the fields.
        #expect(parse("123 (a) b (c) d) " + rest) == 7)
        #expect(parse("123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 123 0") == 123)
        #expect(parse("123 forklift S 1 2") == nil)
        #expect(parse("123 (x) S 1 2 3") == nil)
        #expect(parse("123 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 x 0") == nil)
    }

    @Test func thisProcessIsSeenMultithreaded() {
        // The test process runs several threads (NOTES.md): the check must see them.
        #expect(ProcessControl.threadCount() > 1)
    }
}
