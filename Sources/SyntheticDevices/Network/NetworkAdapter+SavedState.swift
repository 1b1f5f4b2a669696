import HyperV
import VMBus

/// A network adapter's NVSP and RNDIS state (G14: not the runtime type). The receive and send
/// buffers are guest RAM (saved with it); this is which GPADLs they are and which receive
/// sections the guest still holds.
public struct NetworkAdapterSavedState: Codable, Sendable, Equatable {
    public struct Completion: Codable, Sendable, Equatable {
        public var transactionID: UInt64
        public var payload: [UInt8]
    }
    public struct ReceiveBufferState: Codable, Sendable, Equatable {
        public var gpadl: UInt32
        public var sectionSize: Int
        /// Sections announced to the guest and not completed yet: its completions after restore
        /// free them.
        public var lentSections: [UInt32]
    }
    /// The adapter's MAC: checked against the restoring adapter's.
    public var macAddress: [UInt8]
    public var nvspVersion: UInt32?
    public var receiveBuffer: ReceiveBufferState?
    /// The send buffer's GPADL handle.
    public var sendBufferGPADL: UInt32?
    public var rndisInitialized: Bool
    public var packetFilter: UInt32
    /// RNDIS control responses waiting for a free receive section.
    public var pendingControl: [[UInt8]]
    /// NVSP completions waiting for ring space.
    public var pendingCompletions: [Completion]
    public var statistics: NetworkAdapterStatistics
}

extension NetworkAdapter {
    /// Stops delivering host frames into the guest (before a save): frames arriving meanwhile
    /// are dropped and counted. Returns once no delivery is in progress.
    public func pauseDelivery() { state.withLock { $0.deliveryPaused = true } }

    /// Delivers host frames again after `pauseDelivery()`.
    public func resumeDelivery() { state.withLock { $0.deliveryPaused = false } }

    /// Captures the adapter. Call after `pauseDelivery()` with the VMBus host idle.
    public func captureState() -> NetworkAdapterSavedState {
        state.withLock { s in
            NetworkAdapterSavedState(
                macAddress: macAddress, nvspVersion: s.nvspVersion,
                receiveBuffer: s.receive.map {
                    .init(gpadl: $0.buffer.gpadlHandle, sectionSize: $0.sectionSize, lentSections: $0.lentSections)
                },
                sendBufferGPADL: s.send?.gpadlHandle, rndisInitialized: s.rndisInitialized, packetFilter: s.packetFilter,
                pendingControl: s.pendingControl,
                pendingCompletions: s.pendingCompletions.map { .init(transactionID: $0.0, payload: $0.1) },
                statistics: s.statistics)
        }
    }

    /// Restores onto the restored channel (nil when closed), after the VMBus host (its GPADLs
    /// are looked up here). Delivery stays as it was on this adapter (running for a fresh one).
    /// - Throws: `HyperVSavedStateError` for a MAC mismatch, a buffer GPADL that does not exist
    ///   or does not belong to the channel, a lent section out of range, oversized queues.
    public func restore(_ saved: NetworkAdapterSavedState, channel: ChannelEndpoint?) throws(HyperVSavedStateError) {
        let component = "netvsc \(status.macAddress)"
        guard saved.macAddress == macAddress else {
            throw HyperVSavedStateError(component, "saved MAC \(saved.macAddress) differs")
        }
        if let version = saved.nvspVersion, !NVSPVersion.supported.contains(version) {
            throw HyperVSavedStateError(component, "NVSP version 0x\(String(version, radix: 16)) is not supported")
        }
        guard saved.pendingControl.count <= Self.maxPendingControl,
            saved.pendingControl.allSatisfy({ $0.count <= NetvscConstants.receiveSectionSize }),
            saved.pendingCompletions.count <= Self.maxPendingCompletions,
            saved.pendingCompletions.allSatisfy({ $0.payload.count <= NVSPLayout.messageSize })
        else { throw HyperVSavedStateError(component, "pending queues over their bounds") }
        let hasBuffers = saved.receiveBuffer != nil || saved.sendBufferGPADL != nil || saved.nvspVersion != nil
        guard channel != nil || !hasBuffers else {
            throw HyperVSavedStateError(component, "NVSP state on a channel that is not open")
        }
        var receive: ReceiveBuffer?
        if let savedReceive = saved.receiveBuffer, let channel {
            guard savedReceive.sectionSize == NetvscConstants.receiveSectionSize else {
                throw HyperVSavedStateError(component, "receive section size \(savedReceive.sectionSize)")
            }
            let buffer = try guestBuffer(savedReceive.gpadl, relID: channel.relID, what: "receive", component: component)
            guard var restored = ReceiveBuffer(buffer: buffer, sectionSize: savedReceive.sectionSize) else {
                throw HyperVSavedStateError(component, "receive buffer GPADL holds no section")
            }
            for section in savedReceive.lentSections where !restored.markLent(section) {
                throw HyperVSavedStateError(component, "lent receive section \(section) out of range or repeated")
            }
            receive = restored
        }
        var send: GuestBuffer?
        if let handle = saved.sendBufferGPADL, let channel {
            let buffer = try guestBuffer(handle, relID: channel.relID, what: "send", component: component)
            guard buffer.size >= NetvscConstants.sendSectionSize else {
                throw HyperVSavedStateError(component, "send buffer of \(buffer.size) bytes")
            }
            send = buffer
        }
        state.withLock { s in
            s.restart(endpoint: channel)
            s.nvspVersion = saved.nvspVersion
            s.receive = receive
            s.send = send
            s.rndisInitialized = saved.rndisInitialized
            s.packetFilter = saved.packetFilter
            s.pendingControl = saved.pendingControl
            s.pendingCompletions = saved.pendingCompletions.map { ($0.transactionID, $0.payload) }
            s.statistics = saved.statistics
        }
    }

    private func guestBuffer(_ handle: UInt32, relID: UInt32, what: String, component: String) throws(HyperVSavedStateError)
        -> GuestBuffer
    {
        guard let gpadl = gpadlLookup(handle), gpadl.relID == relID, let buffer = GuestBuffer(gpadl) else {
            throw HyperVSavedStateError(component, "\(what) buffer GPADL 0x\(String(handle, radix: 16)) is not a buffer of this channel")
        }
        return buffer
    }
}
