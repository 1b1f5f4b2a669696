import HyperV
import VMBus

/// The shutdown service's state (G14: not the runtime type).
public struct ShutdownSavedState: Codable, Sendable, Equatable {
    public enum Status: Codable, Sendable, Equatable {
        case unavailable
        case ready
        case requested(kind: UInt32)
        case accepted(kind: UInt32)
        case refused(status: UInt32)
    }
    public var engine: ICEngineSavedState
    public var status: Status
}

extension ShutdownService {
    public func captureState() -> ShutdownSavedState {
        let status: ShutdownSavedState.Status =
            switch self.status {
            case .unavailable: .unavailable
            case .ready: .ready
            case .requested(let kind): .requested(kind: kind.rawValue)
            case .accepted(let kind): .accepted(kind: kind.rawValue)
            case .refused(let status): .refused(status: status)
            }
        return ShutdownSavedState(engine: engine.captureState(), status: status)
    }

    public func restore(_ saved: ShutdownSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        try engine.restore(saved.engine, channel: channel)
        let status: ShutdownStatus =
            switch saved.status {
            case .unavailable: .unavailable
            case .ready: .ready
            case .requested(let kind): .requested(ShutdownKind(rawValue: kind))
            case .accepted(let kind): .accepted(ShutdownKind(rawValue: kind))
            case .refused(let status): .refused(status: status)
            }
        state.withLock { $0 = status }
    }
}
