import HyperV
import VMBus

/// The time-synchronization service's state (G14: not the runtime type).
public struct TimeSyncSavedState: Codable, Sendable, Equatable {
    public var engine: ICEngineSavedState
    public var acknowledgedSamples: Int
}

extension TimeSyncService {
    public func captureState() -> TimeSyncSavedState {
        TimeSyncSavedState(engine: engine.captureState(), acknowledgedSamples: acknowledgedSamples)
    }

    /// Restores without sending a sample; the VMM sends one after resuming (the guest's clock
    /// stood still while saved).
    public func restore(_ saved: TimeSyncSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        try engine.restore(saved.engine, channel: channel)
        answered.withLock { $0 = max(saved.acknowledgedSamples, 0) }
    }
}
