import HyperV
import VMBus

/// The heartbeat service's state (G14: not the runtime type).
public struct HeartbeatSavedState: Codable, Sendable, Equatable {
    public enum Status: Codable, Sendable, Equatable {
        case unknown
        case healthy(sequence: UInt64)
        case lost
    }
    public var engine: ICEngineSavedState
    public var status: Status
    public var nextSequence: UInt64
    /// The heartbeat sent and not answered yet: the guest's answer after restore still counts.
    public var outstanding: UInt64?
    public var missed: Int
}

extension HeartbeatService {
    /// Captures the service. Call after `pauseTimer()` with the vCPUs paused.
    public func captureState() -> HeartbeatSavedState {
        let engineState = engine.captureState()
        return state.withLock { s in
            let status: HeartbeatSavedState.Status =
                switch s.status {
                case .unknown: .unknown
                case .healthy(let sequence): .healthy(sequence: sequence)
                case .lost: .lost
                }
            return HeartbeatSavedState(
                engine: engineState, status: status, nextSequence: s.nextSequence, outstanding: s.outstanding, missed: s.missed)
        }
    }

    /// Restores onto the restored channel (nil when closed); restarts the timer when it has one.
    public func restore(_ saved: HeartbeatSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        guard saved.missed >= 0 else { throw HyperVSavedStateError("heartbeat", "missed count \(saved.missed)") }
        try engine.restore(saved.engine, channel: channel)
        let generation = state.withLock { s in
            s.status =
                switch saved.status {
                case .unknown: .unknown
                case .healthy(let sequence): .healthy(sequence: sequence)
                case .lost: .lost
                }
            s.nextSequence = saved.nextSequence
            s.outstanding = saved.outstanding
            s.missed = saved.missed
            s.generation += 1
            return s.generation
        }
        if let interval, channel != nil { scheduleTick(after: interval, generation: generation) }
    }

    /// Stops the internal timer (before a save): no heartbeat is written into the ring until
    /// `resumeTimer()` or a restore.
    public func pauseTimer() {
        state.withLock { $0.generation += 1 }
        // A tick that passed its generation check before the bump finishes before we return.
        timer.sync {}
    }

    /// Restarts the internal timer after `pauseTimer()` when the channel is open.
    public func resumeTimer() {
        guard let interval, engine.state.withLock({ $0.endpoint != nil }) else { return }
        let generation = state.withLock { s in
            s.generation += 1
            return s.generation
        }
        scheduleTick(after: interval, generation: generation)
    }
}
