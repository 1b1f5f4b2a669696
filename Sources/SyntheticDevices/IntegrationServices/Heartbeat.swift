import Dispatch
import Logging
import Synchronization
import VMBus

/// What the host knows about the guest's heartbeat.
public enum HeartbeatStatus: Sendable, Equatable {
    /// The channel is closed or not negotiated yet.
    case unknown
    /// The guest answered the latest heartbeat; `sequence` is the number it returned.
    case healthy(sequence: UInt64)
    /// `missedLimit` heartbeats in a row went unanswered.
    case lost
}

/// The heartbeat integration service (`57164f39-…`): the host sends `heartbeat_msg_data
/// { u64 seq_num; u32 reserved[8]; }` (40 bytes) and the guest returns `seq_num + 1`.
///
/// Ticks come from `tick()` (the VMM's timer) or from an internal timer when `interval` is set.
///
/// ## Concurrency model
/// Device callbacks on the host's device queue; `tick()` and `status` from any thread; state in
/// a `Mutex`.
public final class HeartbeatService: VMBusDevice {
    public static let messageVersions = [ICVersion(1, 0), ICVersion(3, 0)]
    public static let dataSize = 40

    public let offer: ChannelOfferInfo
    /// Unanswered heartbeats in a row before the guest counts as lost.
    public let missedLimit: Int
    let engine: ICEngine
    let timer: DispatchQueue
    let interval: DispatchTimeInterval?

    struct State: Sendable {
        var status = HeartbeatStatus.unknown
        var nextSequence: UInt64 = 1
        var outstanding: UInt64?
        var missed = 0
        var generation = 0
    }
    let state = Mutex(State())

    /// - Parameters:
    ///   - interval: when set, the service ticks itself at this period while the channel is open.
    ///   - missedLimit: unanswered ticks before `.lost`.
    public init(
        instanceID: GUID = ICGUIDs.heartbeatInstance, interval: DispatchTimeInterval? = nil, missedLimit: Int = 3,
        logger: Logger = Logger(label: "swifthv.ic.heartbeat")
    ) {
        offer = ICLayout.offer(classID: ICGUIDs.heartbeatClass, instanceID: instanceID)
        self.missedLimit = missedLimit
        self.interval = interval
        engine = ICEngine(name: "heartbeat", messageVersions: Self.messageVersions, logger: logger)
        timer = DispatchQueue(label: "swifthv.ic.heartbeat.timer")
    }

    /// The latest verdict.
    public var status: HeartbeatStatus { state.withLock { $0.status } }

    /// Sends the next heartbeat, counting the previous one as missed if it is still unanswered.
    public func tick() {
        guard engine.negotiated != nil else { return }
        let sequence = state.withLock { state -> UInt64 in
            if state.outstanding != nil {
                state.missed += 1
                if state.missed >= missedLimit { state.status = .lost }
            }
            let sequence = state.nextSequence
            state.nextSequence &+= 1
            state.outstanding = sequence
            return sequence
        }
        var data = WireWriter(size: Self.dataSize)
        data.store(sequence, at: 0)
        do { try engine.send(.heartbeat, data: data.bytes) } catch {
            engine.logger.debug("heartbeat: not sent: \(error)")
        }
    }

    public func opened(channel: ChannelEndpoint) {
        let generation = state.withLock { state in
            state = State(nextSequence: state.nextSequence, generation: state.generation + 1)
            return state.generation
        }
        engine.opened(channel)
        if let interval { scheduleTick(after: interval, generation: generation) }
    }

    func scheduleTick(after interval: DispatchTimeInterval, generation: Int) {
        timer.asyncAfter(deadline: .now() + interval) { [weak self] in
            guard let self, self.state.withLock({ $0.generation }) == generation else { return }
            self.tick()
            self.scheduleTick(after: interval, generation: generation)
        }
    }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        switch engine.handle(packet) {
        case .negotiated:
            tick()
        case .response(let header, let data):
            guard header.messageType == .heartbeat, header.status == ICStatus.ok,
                let answer = try? WireReader(data).load(UInt64.self, at: 0)
            else { return }
            state.withLock { state in
                guard let outstanding = state.outstanding, answer == outstanding &+ 1 else { return }
                state.outstanding = nil
                state.missed = 0
                state.status = .healthy(sequence: answer)
            }
        case .negotiationFailed, nil:
            return
        }
    }

    public func closed(channel: ChannelEndpoint) {
        engine.closed()
        state.withLock { state in
            state.status = .unknown
            state.outstanding = nil
            state.generation += 1
        }
    }
}
