import HyperV
import Testing
import Synchronization

/// A SynIC double: records what the host posts and signals, as the guest would see it.
public final class FakeSynIC: SynICMessagePort {
    public struct Message: Sendable, Equatable {
        public let vp: UInt32
        public let sint: UInt8
        public let messageType: UInt32
        public let payload: [UInt8]
        public var channelMessageType: UInt32 { Bytes(payload).u32(0) }

        public init(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
            self.vp = vp
            self.sint = sint
            self.messageType = messageType
            self.payload = payload
        }
    }
    public struct Event: Sendable, Equatable {
        public let vp: UInt32
        public let sint: UInt8
        public let flag: UInt32

        public init(vp: UInt32, sint: UInt8, flag: UInt32) {
            self.vp = vp
            self.sint = sint
            self.flag = flag
        }
    }

    private let messages = Mutex<[Message]>([])
    private let events = Mutex<[Event]>([])

    public init() {}

    public func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
        if payload.count > 240 { Issue.record("host posted a message of \(payload.count) bytes") }
        messages.withLock { $0.append(Message(vp: vp, sint: sint, messageType: messageType, payload: payload)) }
    }

    public func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {
        events.withLock { $0.append(Event(vp: vp, sint: sint, flag: flag)) }
    }

    /// Removes and returns every message posted so far.
    public func takeMessages() -> [Message] { messages.withLock { m in defer { m = [] }; return m } }
    /// Removes and returns every event signalled so far.
    public func takeEvents() -> [Event] { events.withLock { e in defer { e = [] }; return e } }
}
