import HyperV
import VMBus

/// The KVP service's state (G14: not the runtime type).
public struct KeyValueExchangeSavedState: Codable, Sendable, Equatable {
    public struct Message: Codable, Sendable, Equatable {
        public var operation: UInt8
        public var pool: UInt8
        public var index: UInt32
        public var key: String
        public var value: String
    }
    public struct Pool: Codable, Sendable, Equatable {
        public var pool: UInt8
        public var values: [String: String]
    }
    public var engine: ICEngineSavedState
    public var queue: [Message]
    /// The request the guest has not answered yet; its answer after restore is matched to it.
    public var outstanding: Message?
    public var values: [Pool]
    public var failures: Int
    public var channelOpen: Bool
}

extension KeyValueExchangeService {
    public func captureState() -> KeyValueExchangeSavedState {
        let engineState = engine.captureState()
        return state.withLock { s in
            KeyValueExchangeSavedState(
                engine: engineState, queue: s.queue.map(Self.saved), outstanding: s.outstanding.map(Self.saved),
                values: s.values.keys.sorted { $0.rawValue < $1.rawValue }.map { .init(pool: $0.rawValue, values: s.values[$0] ?? [:]) },
                failures: s.failures, channelOpen: s.channelOpen)
        }
    }

    public func restore(_ saved: KeyValueExchangeSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        guard saved.queue.count <= Self.maxQueued else {
            throw HyperVSavedStateError("kvp", "\(saved.queue.count) queued requests")
        }
        let queue = try saved.queue.map(Self.message)
        let outstanding = try saved.outstanding.map(Self.message)
        guard saved.channelOpen == (channel != nil) else {
            throw HyperVSavedStateError("kvp", "channel open \(saved.channelOpen) but the restored channel says \(channel != nil)")
        }
        try engine.restore(saved.engine, channel: channel)
        state.withLock { s in
            s.queue = queue
            s.outstanding = outstanding
            s.values = Dictionary(saved.values.map { (KVPPool(rawValue: $0.pool), $0.values) }, uniquingKeysWith: { $1 })
            s.failures = saved.failures
            s.channelOpen = saved.channelOpen
        }
    }

    private static func saved(_ message: KVPMessage) -> KeyValueExchangeSavedState.Message {
        .init(
            operation: message.operation.rawValue, pool: message.pool.rawValue, index: message.index, key: message.key,
            value: message.value)
    }

    private static func message(_ saved: KeyValueExchangeSavedState.Message) throws(HyperVSavedStateError) -> KVPMessage {
        let message = KVPMessage(
            operation: KVPOperation(rawValue: saved.operation), pool: KVPPool(rawValue: saved.pool), index: saved.index,
            key: saved.key, value: saved.value)
        guard message.encode() != nil else { throw HyperVSavedStateError("kvp", "request for key of \(saved.key.utf8.count) bytes does not encode") }
        return message
    }
}
