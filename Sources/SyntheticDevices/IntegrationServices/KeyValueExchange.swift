import Logging
import Synchronization
import VMBus

/// The key-value exchange integration service (`a9a0f4e7-…`).
///
/// Linux answers nothing (not even the negotiation) until the guest's `hv_kvp_daemon` runs, so
/// the service is optional: `isNegotiated` tells whether the guest side is there. Requests go
/// one at a time (the guest handles one transaction at a time); further ones queue.
/// `enumerate(pool:)` walks a guest pool index by index until the guest reports no more.
///
/// ## Concurrency model
/// Device callbacks on the host's device queue; `push`, `enumerate` and the accessors from any
/// thread; state in a `Mutex`.
public final class KeyValueExchangeService: VMBusDevice {
    public static let messageVersions = [ICVersion(3, 0), ICVersion(4, 0)]
    /// Most queued requests; more are refused.
    public static let maxQueued = 256

    public let offer: ChannelOfferInfo
    let engine: ICEngine

    struct State: Sendable {
        var queue: [KVPMessage] = []
        var outstanding: KVPMessage?
        var values: [KVPPool: [String: String]] = [:]
        var failures = 0
    }
    let state = Mutex(State())

    public init(instanceID: GUID = ICGUIDs.kvpInstance, logger: Logger = Logger(label: "swifthv.ic.kvp")) {
        offer = ICLayout.offer(classID: ICGUIDs.kvpClass, instanceID: instanceID)
        engine = ICEngine(name: "kvp", messageVersions: Self.messageVersions, logger: logger)
    }

    /// Whether the guest's KVP daemon negotiated.
    public var isNegotiated: Bool { engine.negotiated != nil }

    /// Values the guest reported, by pool (from `enumerate` and `get`).
    public func guestValues(pool: KVPPool) -> [String: String] { state.withLock { $0.values[pool] ?? [:] } }

    /// Requests the guest refused or failed.
    public var failedRequests: Int { state.withLock { $0.failures } }

    /// True when no request is queued or waiting for its answer.
    public var isIdle: Bool { state.withLock { $0.queue.isEmpty && $0.outstanding == nil } }

    /// Pushes a key into a guest pool (the external pool by default).
    public func push(key: String, value: String, pool: KVPPool = .external) throws(ICError) {
        try enqueue(KVPMessage(operation: .set, pool: pool, key: key, value: value))
    }

    /// Reads one key from a guest pool.
    public func get(key: String, pool: KVPPool = .guest) throws(ICError) {
        try enqueue(KVPMessage(operation: .get, pool: pool, key: key))
    }

    /// Reads a whole guest pool (the auto pool holds the OS name, FQDN and the like).
    public func enumerate(pool: KVPPool = .auto) throws(ICError) {
        try enqueue(KVPMessage(operation: .enumerate, pool: pool, index: 0))
    }

    private func enqueue(_ message: KVPMessage) throws(ICError) {
        guard message.encode() != nil else { throw .invalidArgument("key or value too long") }
        guard isNegotiated else { throw .notNegotiated }
        let accepted = state.withLock { state in
            guard state.queue.count < Self.maxQueued else { return false }
            state.queue.append(message)
            return true
        }
        guard accepted else { throw .invalidArgument("too many queued requests") }
        sendNext()
    }

    /// Sends the next queued request when none is outstanding.
    private func sendNext() {
        let next = state.withLock { state -> KVPMessage? in
            guard state.outstanding == nil, !state.queue.isEmpty else { return nil }
            let message = state.queue.removeFirst()
            state.outstanding = message
            return message
        }
        guard let next, let data = next.encode() else { return }
        do { try engine.send(.kvpExchange, data: data) } catch {
            engine.logger.debug("kvp: request not sent: \(error)")
            state.withLock { $0.outstanding = nil }
        }
    }

    public func opened(channel: ChannelEndpoint) {
        state.withLock { state in
            state.queue = []
            state.outstanding = nil
        }
        engine.opened(channel)
    }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        guard case .response(let header, let data) = engine.handle(packet), header.messageType == .kvpExchange else {
            return
        }
        let answer = try? KVPMessage.decode(data)
        state.withLock { state in
            guard let request = state.outstanding else { return }
            state.outstanding = nil
            guard header.status == ICStatus.ok else {
                // HV_S_CONT ends an enumeration; anything else is a failure.
                if !(request.operation == .enumerate && header.status == ICStatus.more) { state.failures += 1 }
                return
            }
            switch request.operation {
            case .enumerate:
                if let answer, !answer.key.isEmpty { state.values[request.pool, default: [:]][answer.key] = answer.value }
                var next = request
                next.index += 1
                if next.index < 4096 { state.queue.insert(next, at: 0) }
            case .get:
                if let answer { state.values[request.pool, default: [:]][request.key] = answer.value }
            default:
                break
            }
        }
        sendNext()
    }

    public func closed(channel: ChannelEndpoint) {
        engine.closed()
        state.withLock { state in
            state.queue = []
            state.outstanding = nil
        }
    }
}
