import GuestMemory

/// One VP's SynIC registers and the host-side message queues not yet written into its message
/// page (G14: not the runtime type). The message and event-flag pages themselves are guest RAM.
///
/// Not saved: synthetic timers and the reference TSC page, which this SynIC does not offer
/// (docs/hyperv.md), and the drop counter (diagnostics only).
public struct SynICVPSavedState: Codable, Sendable, Equatable {
    public struct Message: Codable, Sendable, Equatable {
        public var messageType: UInt32
        public var payload: [UInt8]
    }
    public var scontrol: UInt64
    public var simp: UInt64
    public var siefp: UInt64
    /// SINT0..SINT15 raw values.
    public var sints: [UInt64]
    /// Per SINT, messages queued for the slot (oldest first); delivered on the first entry.
    public var queuedMessages: [[Message]]
}

/// The SynIC of every VP.
public struct SynICSavedState: Codable, Sendable, Equatable {
    public var vps: [SynICVPSavedState]
}

extension SynIC {
    /// Captures every VP's registers and queues. Call with every vCPU paused.
    public func captureState() -> SynICSavedState {
        SynICSavedState(
            vps: vps.map { box in
                box.state.withLock { s in
                    SynICVPSavedState(
                        scontrol: s.scontrol, simp: s.simp, siefp: s.siefp, sints: s.sints.map(\.rawValue),
                        queuedMessages: s.queues.map { queue in
                            queue.elements.map { SynICVPSavedState.Message(messageType: $0.messageType, payload: $0.payload) }
                        })
                }
            })
    }

    /// Restores into a SynIC of the same VP count, before the first `KVM_RUN`. Unlike a guest
    /// SIMP/SIEFP write, nothing is zeroed: the pages were restored with RAM. Queued messages
    /// are delivered by the first `deliverPending` on each VP.
    /// - Throws: `HyperVSavedStateError` naming the VP and field that is out of range.
    public func restore(_ saved: SynICSavedState) throws(HyperVSavedStateError) {
        guard saved.vps.count == vpCount else {
            throw HyperVSavedStateError("synic", "\(saved.vps.count) VPs saved, \(vpCount) configured")
        }
        var states: [VPState] = []
        for (vp, savedVP) in saved.vps.enumerated() {
            states.append(try validated(savedVP, component: "synic vp\(vp)"))
        }
        for (box, restored) in zip(vps, states) { box.state.withLock { $0 = restored } }
    }

    private func validated(_ saved: SynICVPSavedState, component: String) throws(HyperVSavedStateError) -> VPState {
        var s = VPState()
        s.scontrol = saved.scontrol & SyntheticMSRLayout.scontrolEnable
        for (name, value) in [("SIMP", saved.simp), ("SIEFP", saved.siefp)] where value & SyntheticMSRLayout.enableBit != 0 {
            let page = GuestPhysicalAddress(value & SyntheticMSRLayout.pageAddressMask)
            guard memory.isValid(page, count: UInt64(SynICLayout.pageSize)) else {
                throw HyperVSavedStateError(component, "\(name) page \(page) is outside RAM")
            }
        }
        s.simp = saved.simp
        s.siefp = saved.siefp
        guard saved.sints.count == SynICLayout.sintCount, saved.queuedMessages.count == SynICLayout.sintCount else {
            throw HyperVSavedStateError(
                component, "\(saved.sints.count) SINTs and \(saved.queuedMessages.count) queues, not \(SynICLayout.sintCount)")
        }
        for (sint, raw) in saved.sints.enumerated() {
            let register = SINTRegister(rawValue: raw & SINTRegister.definedBits)
            guard register.isMasked || register.vector >= SINTRegister.firstValidVector else {
                throw HyperVSavedStateError(component, "SINT\(sint) unmasked with vector \(register.vector)")
            }
            s.sints[sint] = register
        }
        for (sint, messages) in saved.queuedMessages.enumerated() {
            guard messages.count <= maxQueuedMessagesPerSINT else {
                throw HyperVSavedStateError(component, "SINT\(sint) has \(messages.count) queued messages")
            }
            for message in messages {
                guard message.payload.count <= SynICLayout.maxPayloadSize, message.messageType != HvMessageType.none.rawValue
                else {
                    throw HyperVSavedStateError(
                        component, "SINT\(sint) message type \(message.messageType) of \(message.payload.count) bytes")
                }
                s.queues[sint].append(QueuedMessage(messageType: message.messageType, payload: message.payload))
            }
        }
        return s
    }
}
