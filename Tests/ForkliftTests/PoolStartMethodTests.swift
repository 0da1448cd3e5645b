import Forklift
import Testing

/// The `swift test` process runs several threads, so these are the real
/// situation of a multithreaded Swift program: `.fork` must refuse.
@Suite("Swift pool start methods in a multithreaded process (refused before any fork)")
struct PoolStartMethodTests {
    @Test func forkIsRefusedWithTheTypedErrorWhenThreadsRun() throws {
        let host = try ForkliftHost()
        let e = #expect(throws: ForkliftError.self) {
            try host.makePool(PoolConfiguration(processes: 2, startMethod: .fork))
        }
        #expect(e?.code == .forkInMultithreadedProcess)
        #expect(e?.message.contains("threads") == true)
        #expect(e?.message.contains("fork") == true)
        // Nothing was started: the host still works and has no children.
        #expect(try host.evaluate("#mp.active_children()") == [0])
    }

    @Test func forkIsRefusedFromInsideASwiftTask() async throws {
        let code = try await Task.detached { () -> ForkliftError.Code? in
            let host = try ForkliftHost()
            do throws(ForkliftError) {
                _ = try host.makePool()
                return nil
            } catch {
                return error.code
            }
        }.value
        #expect(code == .forkInMultithreadedProcess)
    }

    @Test(arguments: [StartMethod.forkserver, .spawn])
    func unimplementedStartMethodsAreRefusedClearly(method: StartMethod) throws {
        let host = try ForkliftHost()
        let e = #expect(throws: ForkliftError.self) { try host.makePool(PoolConfiguration(startMethod: method)) }
        #expect(e?.code == .startMethodUnavailable)
        #expect(e?.message.contains(method.rawValue) == true)
    }
}
