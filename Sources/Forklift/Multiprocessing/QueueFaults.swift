internal import CLua
internal import CSystem
internal import Glibc

/// Test hook for the crash rules of docs/queues.md: `mp._queue_die(q, stage
/// [, value])` ends the calling process (at once, with `_exit`) in the middle
/// of a queue operation, holding the queue's lock, at a point a SIGKILL could
/// hit but a test cannot aim at. The next process to lock the queue must find
/// it consistent. Stages:
/// - `put-uncommitted`: the frame is written and counted, not committed;
/// - `put-committed`: committed in its chunk, not counted;
/// - `put-linking`: in a new chunk linked after the tail, the tail not moved;
/// - `get-uncommitted`: the oldest message copied out and uncounted, the read
///   position not moved;
/// - `put-filling`: a big message's chunk half filled outside the lock (the
///   lock is not held then; the chunk is recorded as in flight).
/// `mp._queue_in_flight(q)` counts the chunks recorded as out of the chain.
enum QueueFaults {
    static let die: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let object = QueueObject.at(lua, 1), let arena = SharedArena.current,
            let stage = lua.toString(2)
        else { return ModuleError.raise(lua, .valueError, "_queue_die(queue, stage [, value])") }
        let state = QueueState(allocator: SharedAllocator(arena), offset: object.pointee.offset)
        do throws(NotSendableError) {
            try QueueMessage.withMessage(lua, at: 3) { prefix, body, _ in
                let size = Chunk.frameSize(prefix.count + body.count)
                state.lock()
                switch stage {
                case "put-uncommitted", "put-committed":
                    if state.tail == 0 || state.chunk(state.tail).room < size || state.chunk(state.tail).dedicated,
                        let c = try? state.obtainChunk(capacity: QueueState.standardCapacity)
                    {
                        state.append(c)
                    }
                    let t = state.chunk(state.tail)
                    let before = t.writePosition
                    t.write(prefix, body, references: [])
                    if stage == "put-uncommitted" {
                        t.writePosition = before
                        state.count += 1
                    }
                case "put-linking":
                    if let c = try? state.obtainChunk(capacity: QueueState.standardCapacity) {
                        c.write(prefix, body, references: [])
                        if state.tail != 0 {
                            state.chunk(state.tail).next = c.offset
                        } else if state.lastSpare != 0 {
                            state.chunk(state.lastSpare).next = c.offset
                        } else {
                            state.first = c.offset
                        }
                    }
                case "put-filling":
                    if let c = try? state.obtainChunk(capacity: size) {
                        _ = state.inFlight.record(pid: forklift_thread_id(), chunk: c.offset)
                        state.unlock()
                        c.frames.initializeMemory(as: UInt8.self, repeating: 0x55, count: size / 2)
                    }
                case "get-uncommitted":
                    if state.head != 0 {
                        let h = state.chunk(state.head)
                        _ = h.peek()
                        state.count -= 1
                    }
                default:
                    break
                }
            }
        } catch {
            return ModuleError.raise(lua, .notSendable, error.description)
        }
        ProcessControl.exitNow(0)
    }

    static let inFlight: LuaCFunction = { L in
        guard let L else { return 0 }
        let lua = Lua(L)
        guard let object = QueueObject.at(lua, 1), let arena = SharedArena.current else {
            return ModuleError.raise(lua, .valueError, "_queue_in_flight(queue)")
        }
        let state = QueueState(allocator: SharedAllocator(arena), offset: object.pointee.offset)
        lua.push(state.withLock { state.inFlight.count })
        return 1
    }
}
