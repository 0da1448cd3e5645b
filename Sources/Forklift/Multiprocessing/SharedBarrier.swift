internal import CSystem
internal import Glibc

/// A barrier's state in shared memory: a robust mutex, the number of
/// parties, how many have arrived in this round, the round (a futex word the
/// waiters sleep on), whether the barrier is broken, and the last round that
/// was reset while parties waited in it.
///
/// The last party to arrive ends the round: it bumps the round and wakes
/// everyone. Breaking (abort, a time-out, a failing action) sets `broken`
/// and wakes everyone without ending the round, so the sleepers of that
/// round see it. `reset` ends the round as broken for whoever waited in it.
struct SharedBarrier {
    let state: UnsafeMutableRawPointer

    static let payloadBytes = 72

    var mutex: RobustMutex { RobustMutex(state.assumingMemoryBound(to: pthread_mutex_t.self)) }
    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> {
        (state + offset).assumingMemoryBound(to: UInt32.self)
    }
    var parties: UInt32 { forklift_load32(word(40)) }
    private var arrivedWord: UnsafeMutablePointer<UInt32> { word(44) }
    private var roundWord: UnsafeMutablePointer<UInt32> { word(48) }
    private var brokenWord: UnsafeMutablePointer<UInt32> { word(52) }
    /// Round number + 1 of the last round reset with waiters (0: none).
    private var resetRoundWord: UnsafeMutablePointer<UInt32> { word(56) }

    func initialize(parties: UInt32, timeout: Double?) throws(SystemError) {
        try mutex.initialize()
        forklift_store32(word(40), parties)
        (state + 64).storeBytes(of: timeout ?? .nan, as: Double.self)
    }

    /// The time-out `wait` uses when given none.
    var defaultTimeout: Double? {
        let t = (state + 64).load(as: Double.self)
        return t.isNaN ? nil : t
    }

    var isBroken: Bool { forklift_load32(brokenWord) != 0 }
    var waiting: UInt32 { isBroken ? 0 : forklift_load32(arrivedWord) }

    enum Arrival {
        /// Arrived before the last: sleep in `round` with this 0-based index.
        case sleep(round: UInt32, index: UInt32)
        /// The last party: run the action, then `finishRound`.
        case last(index: UInt32)
        case broken
        /// Called from the barrier's own action.
        case reentered
    }

    /// Registers an arrival. For `.last` the mutex stays locked until
    /// `finishRound` or `breakBarrier(unlocking: true)`.
    func arrive() -> Arrival {
        // This thread holds the mutex only while running the action: a
        // `wait` from inside the action.
        if mutex.lock() == .wouldDeadlock { return .reentered }
        if forklift_load32(brokenWord) != 0 {
            mutex.unlock()
            return .broken
        }
        let index = forklift_fetch_add32(arrivedWord, 1)
        if index + 1 >= parties { return .last(index: index) }
        let round = forklift_load32(roundWord)
        mutex.unlock()
        return .sleep(round: round, index: index)
    }

    /// Ends the round normally (the caller is the last party and holds the mutex).
    func finishRound() {
        forklift_store32(arrivedWord, 0)
        forklift_fetch_add32(roundWord, 1)
        mutex.unlock()
        Futex(roundWord).wakeAll()
    }

    enum Outcome { case passed, broken, timedOut, interrupted }

    /// Sleeps until the round ends, the barrier breaks, or `deadline`; a
    /// sleeper that times out (or is interrupted) breaks the barrier, as in Python.
    func sleep(round: UInt32, deadline: Double?, interrupted: () -> Bool = { false }) -> Outcome {
        let futex = Futex(roundWord)
        while true {
            if futex.value != round {
                return forklift_load32(resetRoundWord) == round &+ 1 ? .broken : .passed
            }
            if forklift_load32(brokenWord) != 0 { return .broken }
            let inTime = futex.wait(whileEqualTo: round, deadline: deadline)
            let stop = inTime && interrupted()
            if !inTime || stop {
                _ = mutex.lock()
                let stillWaiting = futex.value == round && forklift_load32(brokenWord) == 0
                if stillWaiting { forklift_store32(brokenWord, 1) }
                mutex.unlock()
                guard stillWaiting else { continue }
                futex.wakeAll()
                return stop ? .interrupted : .timedOut
            }
        }
    }

    /// `abort`, or a failing action (`unlocking`: the caller holds the mutex).
    func breakBarrier(unlocking: Bool = false) {
        if !unlocking { _ = mutex.lock() }
        forklift_store32(brokenWord, 1)
        mutex.unlock()
        Futex(roundWord).wakeAll()
    }

    /// `reset`: whoever waits in this round sees it broken; the barrier starts over.
    func reset() {
        _ = mutex.lock()
        let round = forklift_load32(roundWord)
        if forklift_load32(arrivedWord) > 0 || forklift_load32(brokenWord) != 0 {
            forklift_store32(resetRoundWord, round &+ 1)
        }
        forklift_store32(arrivedWord, 0)
        forklift_store32(brokenWord, 0)
        forklift_store32(roundWord, round &+ 1)
        mutex.unlock()
        Futex(roundWord).wakeAll()
    }
}
