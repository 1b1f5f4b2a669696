import GuestMemory
import Logging
import Synchronization

/// The synthetic interrupt controller, emulated in user space for every VP (TLFS §11).
///
/// Host → guest messages follow the slot protocol of guest-requirements §6.4: `postMessage`
/// queues per (VP, SINT) and kicks the target vCPU out of `KVM_RUN`; that vCPU's thread then calls
/// `deliverPending(vp:)` before re-entering, which writes at most one message per free slot
/// (`message_type` last, with release ordering) and raises the SINT's vector. A busy slot gets
/// `msg_pending` set; the guest's EOM write (an MSR exit on the same thread) rescans.
///
/// ## Concurrency model
/// One `Mutex` per VP guards that VP's registers and queues. `postMessage` and `signalEvent` run
/// on any thread; `deliverPending`, `readRegister` and `writeRegister` run on the VP's own vCPU
/// thread (R7: only it writes message slots, and only while the guest VP is stopped). Guest RAM
/// is touched under the VP lock, so a concurrent SIMP/SIEFP move never races a write into the old
/// page. Interrupts and kicks are raised after the lock is released.
///
/// The slot protocol is also safe against a guest freeing the slot concurrently (another vCPU
/// running): the busy check ORs `msg_pending` atomically into the slot header and looks at the
/// type it replaced, so a slot freed in between is used at once rather than waiting for an EOM
/// the guest will not send.
public final class SynIC: SynICMessagePort {
    /// Per-VP registers and queues.
    struct VPState: Sendable {
        var scontrol: UInt64 = SyntheticMSRLayout.scontrolEnable
        var simp: UInt64 = 0
        var siefp: UInt64 = 0
        var sints = [SINTRegister](repeating: .resetValue, count: SynICLayout.sintCount)
        var queues = [MessageFIFO](repeating: MessageFIFO(), count: SynICLayout.sintCount)
        var droppedMessages = 0

        var isEnabled: Bool { scontrol & SyntheticMSRLayout.scontrolEnable != 0 }
        var messagePage: GuestPhysicalAddress? {
            simp & SyntheticMSRLayout.enableBit != 0 ? GuestPhysicalAddress(simp & SyntheticMSRLayout.pageAddressMask) : nil
        }
        var eventFlagsPage: GuestPhysicalAddress? {
            siefp & SyntheticMSRLayout.enableBit != 0 ? GuestPhysicalAddress(siefp & SyntheticMSRLayout.pageAddressMask) : nil
        }
        /// True when an interrupt for `sint` may be raised.
        func interruptible(_ sint: Int) -> Bool { isEnabled && !sints[sint].isMasked && !sints[sint].isPolling }
    }

    /// One VP's lock (Mutex is non-copyable, so each lives in its own box).
    final class VPBox: Sendable {
        let state = Mutex(VPState())
    }

    /// Number of VPs.
    public let vpCount: Int
    /// Most messages kept queued per (VP, SINT) before `postMessage` drops (and logs): a guest
    /// that never frees its slot must not make the host allocate without bound.
    public let maxQueuedMessagesPerSINT: Int

    let memory: GuestMemory
    private let sink: any SynICInterruptSink
    private let kick: @Sendable (UInt32) -> Void
    let vps: [VPBox]
    private let logger: Logger
    private let logOnce = LogOnce<String>()
    /// Test seam: runs between seeing a slot busy and marking it pending, where a guest on
    /// another vCPU may free it. `nil` outside tests.
    private let afterBusyCheck: (@Sendable (GuestPhysicalAddress) -> Void)?

    /// - Parameters:
    ///   - vpCount: number of VPs (VP index = vCPU index).
    ///   - memory: guest RAM, where the guest's message and event-flag pages live.
    ///   - interruptSink: raises SINT vectors (KVM_SIGNAL_MSI in the VMM).
    ///   - maxQueuedMessagesPerSINT: queue bound per (VP, SINT).
    ///   - kick: asks the VMM to bring `vp` out of `KVM_RUN` so its thread calls `deliverPending`.
    public convenience init(
        vpCount: Int, memory: GuestMemory, interruptSink: any SynICInterruptSink, maxQueuedMessagesPerSINT: Int = 4096,
        logger: Logger = Logger(label: "swifthv.hyperv.synic"), kick: @escaping @Sendable (UInt32) -> Void
    ) {
        self.init(
            vpCount: vpCount, memory: memory, interruptSink: interruptSink,
            maxQueuedMessagesPerSINT: maxQueuedMessagesPerSINT, logger: logger, afterBusyCheck: nil, kick: kick)
    }

    init(
        vpCount: Int, memory: GuestMemory, interruptSink: any SynICInterruptSink, maxQueuedMessagesPerSINT: Int,
        logger: Logger, afterBusyCheck: (@Sendable (GuestPhysicalAddress) -> Void)?,
        kick: @escaping @Sendable (UInt32) -> Void
    ) {
        self.afterBusyCheck = afterBusyCheck
        self.vpCount = max(vpCount, 0)
        self.memory = memory
        self.sink = interruptSink
        self.kick = kick
        self.maxQueuedMessagesPerSINT = max(maxQueuedMessagesPerSINT, 1)
        self.vps = (0..<max(vpCount, 0)).map { _ in VPBox() }
        self.logger = logger
    }

    private func box(_ vp: Int) -> VPBox? { vps.indices.contains(vp) ? vps[vp] : nil }

    // MARK: SynICMessagePort (host side, any thread)

    public func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
        guard let box = box(Int(vp)), Int(sint) < SynICLayout.sintCount else {
            logger.error("SynIC: message for VP \(vp) SINT \(sint) dropped: no such VP or SINT")
            return
        }
        guard payload.count <= SynICLayout.maxPayloadSize, messageType != HvMessageType.none.rawValue else {
            logger.error("SynIC: message type \(messageType) with \(payload.count) payload bytes dropped: invalid")
            return
        }
        let shouldKick: Bool? = box.state.withLock { s in
            let queue = s.queues[Int(sint)]
            guard queue.count < maxQueuedMessagesPerSINT else {
                s.droppedMessages += 1
                return nil
            }
            s.queues[Int(sint)].append(QueuedMessage(messageType: messageType, payload: payload))
            return queue.isEmpty
        }
        switch shouldKick {
        case nil:
            if logOnce.first("queue-full-\(vp)-\(sint)") {
                logger.error("SynIC: VP \(vp) SINT \(sint) queue full (\(maxQueuedMessagesPerSINT)); dropping messages")
            }
        case true?: kick(vp)
        case false?: break  // Already waiting: an earlier kick, EOM or MSR write delivers it.
        }
    }

    public func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {
        guard let box = box(Int(vp)), Int(sint) < SynICLayout.sintCount, flag < SynICLayout.eventFlagsPerSINT else {
            logger.error("SynIC: event VP \(vp) SINT \(sint) flag \(flag) dropped: out of range")
            return
        }
        let vector: UInt8? = box.state.withLock { s in
            guard let page = s.eventFlagsPage else { return nil }
            let offset = UInt64(Int(sint) * SynICLayout.eventFlagBytesPerSINT) + UInt64(flag / 64) * 8
            let bit = UInt64(1) << UInt64(flag % 64)
            guard let address = page.advanced(by: offset), let old = try? memory.atomicFetchOr64(bit, at: address) else {
                return nil
            }
            return old & bit == 0 && s.interruptible(Int(sint)) ? s.sints[Int(sint)].vector : nil
        }
        if let vector { sink.interrupt(vp: vp, vector: vector) }
    }

    // MARK: Delivery (the VP's own thread)

    /// Writes queued messages into free slots of `vp`'s message page and raises their vectors.
    /// Call on `vp`'s vCPU thread before each `KVM_RUN` (at least after a kick). Cheap when idle.
    public func deliverPending(vp: Int) {
        guard let box = box(vp) else { return }
        let vectors = box.state.withLock { deliverLocked(&$0) }
        for vector in vectors { sink.interrupt(vp: UInt32(vp), vector: vector) }
    }

    /// True when `vp` has messages queued (delivered or blocked on a busy slot, masked SINT or
    /// disabled SIMP). For the VMM's diagnostics and tests.
    public func queuedMessageCount(vp: Int) -> Int {
        box(vp)?.state.withLock { $0.queues.reduce(0) { $0 + $1.count } } ?? 0
    }

    private func deliverLocked(_ s: inout VPState) -> [UInt8] {
        guard s.isEnabled, let page = s.messagePage else { return [] }
        var vectors: [UInt8] = []
        for sint in 0..<SynICLayout.sintCount where !s.queues[sint].isEmpty && !s.sints[sint].isMasked {
            guard let slot = page.advanced(by: UInt64(sint * SynICLayout.messageSize)) else { continue }
            do {
                guard try claimSlot(slot) else { continue }
                guard let message = s.queues[sint].removeFirst() else { continue }
                try writeSlot(slot, message, morePending: !s.queues[sint].isEmpty)
                if !s.sints[sint].isPolling { vectors.append(s.sints[sint].vector) }
            } catch {
                // The page was checked when SIMP was enabled and RAM never shrinks, so this is a
                // bug, not guest input; keep the message queued.
                logger.error("SynIC: message slot \(slot) unusable: \(error)")
            }
        }
        return vectors
    }

    /// True when the slot is free. When busy, sets `msg_pending` so the guest writes EOM after
    /// freeing it; the atomic OR also tells us if the guest freed it in the meantime.
    private func claimSlot(_ slot: GuestPhysicalAddress) throws(GuestMemoryError) -> Bool {
        if try memory.atomicLoad32(at: slot) == HvMessageType.none.rawValue { return true }
        afterBusyCheck?(slot)
        let old = try memory.atomicFetchOr64(SynICLayout.messagePendingBitInFirstWord, at: slot)
        return UInt32(truncatingIfNeeded: old) == HvMessageType.none.rawValue
    }

    /// Writes header fields after the type and the zero-padded payload, then publishes the type.
    private func writeSlot(_ slot: GuestPhysicalAddress, _ message: QueuedMessage, morePending: Bool)
        throws(GuestMemoryError)
    {
        var bytes = [UInt8](repeating: 0, count: SynICLayout.messageSize - SynICLayout.payloadSizeOffset)
        bytes[0] = UInt8(message.payload.count)  // payload_size (≤ 240, checked on post)
        bytes[1] = morePending ? 1 : 0  // message_flags.msg_pending
        // reserved (2 bytes) and sender/port id (8 bytes) stay 0, as OpenVMM and QEMU send.
        let payloadStart = SynICLayout.payloadOffset - SynICLayout.payloadSizeOffset
        bytes.replaceSubrange(payloadStart..<payloadStart + message.payload.count, with: message.payload)
        guard let rest = slot.advanced(by: UInt64(SynICLayout.payloadSizeOffset)) else {
            throw .outOfBounds(address: slot, count: UInt64(SynICLayout.messageSize))
        }
        try memory.write(bytes, at: rest)
        GuestMemory.fence()
        try memory.atomicStore32(message.messageType, at: slot)
    }

    // MARK: Registers (the VP's own thread)

    /// Reads a SynIC MSR, or `nil` when `msr` is not a SynIC register (or `vp` is unknown).
    func readRegister(_ msr: SyntheticMSR, vp: Int) -> UInt64? {
        guard let box = box(vp) else { return nil }
        return box.state.withLock { s -> UInt64? in
            switch msr {
            case .scontrol: return s.scontrol
            case .sversion: return SyntheticMSRLayout.synicVersion
            case .simp: return s.simp
            case .siefp: return s.siefp
            case .eom: return 0
            case SyntheticMSR.sint0...SyntheticMSR.sint15: return s.sints[Int(msr.rawValue - SyntheticMSR.sint0.rawValue)].rawValue
            default: return nil
            }
        }
    }

    /// The outcome of a register write.
    enum WriteOutcome: Equatable {
        /// Not a SynIC register.
        case notHandled
        /// Refused: the VMM injects #GP.
        case fault
        case accepted
    }

    /// Writes a SynIC MSR; accepted writes that can unblock delivery rescan this VP at once.
    func writeRegister(_ msr: SyntheticMSR, value: UInt64, vp: Int) -> WriteOutcome {
        guard let box = box(vp) else { return .notHandled }
        let result: (WriteOutcome, [UInt8]) = box.state.withLock { s in
            var rescanEvents: Int? = nil
            switch msr {
            case .scontrol:
                s.scontrol = value & SyntheticMSRLayout.scontrolEnable
                rescanEvents = -1
            case .sversion:
                return (.fault, [])  // read-only
            case .simp:
                guard enableOverlay(value, previous: s.simp) else { return (.fault, []) }
                s.simp = value
            case .siefp:
                guard enableOverlay(value, previous: s.siefp) else { return (.fault, []) }
                s.siefp = value
            case .eom:
                break  // the rescan below is the whole point of EOM
            case SyntheticMSR.sint0...SyntheticMSR.sint15:
                let sint = Int(msr.rawValue - SyntheticMSR.sint0.rawValue)
                let register = SINTRegister(rawValue: value & SINTRegister.definedBits)
                if !register.isMasked && register.vector < SINTRegister.firstValidVector { return (.fault, []) }
                if register.autoEOI && logOnce.first("auto-eoi") {
                    // We recommend against auto-EOI (R2) and cannot do it with KVM's in-kernel
                    // LAPIC: the guest must EOI itself or it will stall on this vector.
                    logger.warning("SynIC: guest enabled auto-EOI on SINT\(sint); not emulated")
                }
                s.sints[sint] = register
                rescanEvents = sint
            default:
                return (.notHandled, [])
            }
            var vectors = deliverLocked(&s)
            if let rescanEvents { vectors += pendingEventVectors(s, only: rescanEvents) }
            return (.accepted, vectors)
        }
        for vector in result.1 { sink.interrupt(vp: UInt32(vp), vector: vector) }
        return result.0
    }

    /// Checks a SIMP/SIEFP write. A newly enabled (or moved) page must be RAM and is zeroed, as
    /// KVM does, so the guest starts from empty slots and flags.
    private func enableOverlay(_ value: UInt64, previous: UInt64) -> Bool {
        guard value & SyntheticMSRLayout.enableBit != 0 else { return true }
        let page = GuestPhysicalAddress(value & SyntheticMSRLayout.pageAddressMask)
        let wasSame =
            previous & SyntheticMSRLayout.enableBit != 0
            && previous & SyntheticMSRLayout.pageAddressMask == value & SyntheticMSRLayout.pageAddressMask
        if wasSame { return true }
        do {
            try memory.fill(at: page, count: SynICLayout.pageSize)
            return true
        } catch {
            logger.warning("SynIC: guest placed an overlay page at \(page), outside RAM; #GP")
            return false
        }
    }

    /// Vectors to raise for SINTs that became interruptible with event flags already set (no
    /// lost wake-up across a mask/unmask or SCONTROL toggle). `only` -1 means every SINT.
    private func pendingEventVectors(_ s: VPState, only: Int) -> [UInt8] {
        guard let page = s.eventFlagsPage else { return [] }
        let sints = only < 0 ? Array(0..<SynICLayout.sintCount) : [only]
        var vectors: [UInt8] = []
        for sint in sints where s.interruptible(sint) {
            let base = UInt64(sint * SynICLayout.eventFlagBytesPerSINT)
            let anySet = (0..<SynICLayout.eventFlagBytesPerSINT / 8).contains { word in
                guard let a = page.advanced(by: base + UInt64(word * 8)) else { return false }
                return ((try? memory.atomicLoad64(at: a)) ?? 0) != 0
            }
            if anySet { vectors.append(s.sints[sint].vector) }
        }
        return vectors
    }
}
