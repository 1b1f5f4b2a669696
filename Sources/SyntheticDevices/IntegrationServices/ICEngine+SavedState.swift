import HyperV
import VMBus

/// The IC framework's state on one channel (G14: not the runtime type).
public struct ICEngineSavedState: Codable, Sendable, Equatable {
    /// `[framework major, minor, message major, minor]` once negotiated; nil before.
    public var negotiated: [UInt16]?
    /// The next host transaction id (the guest echoes them; they keep counting after restore).
    public var nextTransaction: UInt64
}

extension ICEngine {
    func captureState() -> ICEngineSavedState {
        state.withLock { s in
            ICEngineSavedState(
                negotiated: s.negotiated.map { [$0.framework.major, $0.framework.minor, $0.message.major, $0.message.minor] },
                nextTransaction: s.nextTransaction)
        }
    }

    /// Restores onto `channel` (nil when the channel is not open) without renegotiating.
    func restore(_ saved: ICEngineSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        var negotiated: (framework: ICVersion, message: ICVersion)?
        if let versions = saved.negotiated {
            guard versions.count == 4 else { throw HyperVSavedStateError(name, "negotiated versions \(versions)") }
            let framework = ICVersion(versions[0], versions[1])
            let message = ICVersion(versions[2], versions[3])
            guard Self.frameworkVersions.contains(framework), messageVersions.contains(message) else {
                throw HyperVSavedStateError(name, "framework \(framework) / service \(message) were never offered")
            }
            guard channel != nil else { throw HyperVSavedStateError(name, "negotiated on a channel that is not open") }
            negotiated = (framework, message)
        }
        state.withLock { s in
            s.endpoint = channel
            s.negotiated = negotiated
            s.nextTransaction = saved.nextTransaction
        }
    }
}
