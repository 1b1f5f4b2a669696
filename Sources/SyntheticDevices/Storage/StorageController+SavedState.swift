import HyperV
import VMBus

/// The SCSI controller's protocol state (G14: not the runtime type). Requests run to
/// completion on the channel queue, so once the host is idle no I/O is in flight: what remains
/// is the init handshake and completions that found the ring full. The disks are not saved here
/// (their files are the VM's; a saved VM must not have them written behind its back).
public struct StorageControllerSavedState: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable, Equatable {
        case waitingForBegin, initializing, ready
    }
    public struct Completion: Codable, Sendable, Equatable {
        public var transactionID: UInt64
        public var payload: [UInt8]
    }
    public var phase: Phase
    /// The negotiated `VStorProtocolVersion` raw value.
    public var protocolVersion: UInt16?
    /// Completions waiting for ring space, in order.
    public var pendingCompletions: [Completion]
    public var droppedCompletions: UInt64
    /// The LUNs configured when saved: checked against the restoring controller's.
    public var luns: [UInt8]
}

extension StorageController {
    /// Captures the protocol state. Call after the VMBus host is idle (no request running).
    public func captureState() -> StorageControllerSavedState {
        state.withLock { s in
            let phase: StorageControllerSavedState.Phase =
                switch s.phase {
                case .waitingForBegin: .waitingForBegin
                case .initializing: .initializing
                case .ready: .ready
                }
            return StorageControllerSavedState(
                phase: phase, protocolVersion: s.version?.rawValue,
                pendingCompletions: s.pending.map { .init(transactionID: $0.transactionID, payload: $0.payload) },
                droppedCompletions: s.dropped, luns: disks.keys.sorted())
        }
    }

    /// Restores onto the restored channel (nil when closed): the guest's storvsc carries on
    /// without initializing again.
    public func restore(_ saved: StorageControllerSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        let component = "storvsp"
        guard saved.luns == disks.keys.sorted() else {
            throw HyperVSavedStateError(component, "saved LUNs \(saved.luns) are not the configured \(disks.keys.sorted())")
        }
        var version: VStorProtocolVersion?
        if let raw = saved.protocolVersion {
            let candidate = VStorProtocolVersion(rawValue: raw)
            guard VStorProtocolVersion.supported.contains(candidate) else {
                throw HyperVSavedStateError(component, "protocol version \(candidate) is not supported")
            }
            version = candidate
        }
        guard saved.phase != .ready || version != nil else { throw HyperVSavedStateError(component, "ready without a version") }
        guard saved.phase == .waitingForBegin || channel != nil else {
            throw HyperVSavedStateError(component, "\(saved.phase) on a channel that is not open")
        }
        guard saved.pendingCompletions.count <= Self.maxPendingCompletions,
            saved.pendingCompletions.allSatisfy({ $0.payload.count == StorageLayout.packetSize })
        else {
            throw HyperVSavedStateError(component, "\(saved.pendingCompletions.count) pending completions, or one not 64 bytes")
        }
        state.withLock { s in
            s.phase =
                switch saved.phase {
                case .waitingForBegin: .waitingForBegin
                case .initializing: .initializing
                case .ready: .ready
                }
            s.version = version
            s.pending = saved.pendingCompletions.map { ($0.transactionID, $0.payload) }
            s.dropped = saved.droppedCompletions
        }
    }
}
