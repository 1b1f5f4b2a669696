import Chipset
import Foundation
import Synchronization

/// The guest's serial output: passed on to the worker's own output, kept in a bounded history
/// (so a console that attaches late sees the boot log) and copied to every attached console.
///
/// ## Concurrency model
/// `write` runs on the vCPU thread that emulates the UART; subscribers are added and removed by
/// control-channel threads. A `Mutex` guards the history and the subscriber table; subscriber
/// callbacks must not block (they queue bytes for their connection's writer).
final class ConsoleBroadcaster: SerialOutput {
    static let historyLimit = 64 * 1024

    private struct State {
        var history: [UInt8] = []
        var subscribers: [Int: @Sendable ([UInt8]) -> Void] = [:]
        var nextID = 0
    }

    private let base: any SerialOutput
    private let state = Mutex(State())

    init(base: any SerialOutput) { self.base = base }

    func write(_ bytes: [UInt8]) {
        base.write(bytes)
        let subscribers = state.withLock { state in
            state.history.append(contentsOf: bytes)
            if state.history.count > Self.historyLimit {
                state.history.removeFirst(state.history.count - Self.historyLimit)
            }
            return Array(state.subscribers.values)
        }
        for subscriber in subscribers { subscriber(bytes) }
    }

    /// Adds a subscriber and returns its id and the history so far (atomically: no byte is lost
    /// or repeated between the two).
    func subscribe(_ body: @escaping @Sendable ([UInt8]) -> Void) -> (id: Int, history: [UInt8]) {
        state.withLock { state in
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = body
            return (id, state.history)
        }
    }

    func unsubscribe(_ id: Int) { _ = state.withLock { $0.subscribers.removeValue(forKey: id) } }
}
