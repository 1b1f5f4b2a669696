// Copied from Tests/VMBusTests (names prefixed "Net" so another suite in this target can copy them too).
import HyperV
import Testing
import Synchronization

/// A SynIC double: records what the host posts and signals, as the guest would see it.
final class NetFakeSynIC: SynICMessagePort {
    struct Message: Sendable, Equatable {
        let vp: UInt32
        let sint: UInt8
        let messageType: UInt32
        let payload: [UInt8]
        var channelMessageType: UInt32 { NetBytes(payload).u32(0) }
    }
    struct Event: Sendable, Equatable {
        let vp: UInt32
        let sint: UInt8
        let flag: UInt32
    }

    private let messages = Mutex<[Message]>([])
    private let events = Mutex<[Event]>([])

    func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
        if payload.count > 240 { Issue.record("host posted a message of \(payload.count) bytes") }
        messages.withLock { $0.append(Message(vp: vp, sint: sint, messageType: messageType, payload: payload)) }
    }

    func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {
        events.withLock { $0.append(Event(vp: vp, sint: sint, flag: flag)) }
    }

    /// Removes and returns every message posted so far.
    func takeMessages() -> [Message] { messages.withLock { m in defer { m = [] }; return m } }
    /// Removes and returns every event signalled so far.
    func takeEvents() -> [Event] { events.withLock { e in defer { e = [] }; return e } }
}
