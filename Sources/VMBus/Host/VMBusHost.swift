import Dispatch
import GuestMemory
import HyperV
import Logging
import Synchronization

/// The VMBus host: the channel-management state machine behind the guest's HvPostMessage and
/// HvSignalEvent (protocol doc §8). It negotiates the version, offers registered devices,
/// assembles GPADLs, opens and closes channels over rings in those GPADLs, routes channel events
/// both ways, rescinds devices and handles UNLOAD.
///
/// Every guest request gets its reply (risk R8), including failures. Malformed or hostile
/// messages are logged and refused; a corrupt ring closes only its channel.
///
/// ## Concurrency model
/// A `final class` with its state in one `Mutex`. Hypercalls arrive on vCPU threads and VMM
/// calls (`addDevice`, `rescind`) on any thread; each is handled entirely under the lock,
/// including posting replies (so replies keep their order) — `SynICMessagePort.postMessage`
/// only queues. Device callbacks never run under the lock: they are dispatched to each device's
/// own serial queue.
public final class VMBusHost: HypercallMessageHandler {
    /// The base of channel connection ids: `relid | sint << 12` as OpenVMM does (0x2000 + relid).
    public static let channelConnectionIDBase: UInt32 = 0x2000

    let memory: GuestMemory
    let port: any SynICMessagePort
    let configuration: VMBusHostConfiguration
    let logger: Logger
    let state = Mutex(HostState())

    /// - Parameters:
    ///   - memory: the guest's RAM (GPADL pages and rings).
    ///   - port: the SynIC: replies and channel events go through it.
    public init(
        memory: GuestMemory, port: any SynICMessagePort, configuration: VMBusHostConfiguration = .init(),
        logger: Logger = Logger(label: "swifthv.vmbus")
    ) {
        self.memory = memory
        self.port = port
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: VMM-facing API

    /// The negotiated protocol version, or `nil` while the guest is not connected.
    public var negotiatedVersion: VMBusVersion? { state.withLock { $0.connection?.version } }

    /// Registers a device and, if the guest already asked for offers, offers it now (hot-add).
    /// - Returns: the channel's relid.
    @discardableResult
    public func addDevice(_ device: any VMBusDevice) throws(VMBusHostError) -> UInt32 {
        let result: Result<UInt32, VMBusHostError> = state.withLock { state in
            guard state.channels.count < configuration.maxChannels,
                let relID = (1...VMBusConnectionID.maxRelID).first(where: { state.channels[$0] == nil })
            else { return .failure(.tooManyChannels) }
            let queue = DispatchQueue(label: "swifthv.vmbus.relid\(relID)")
            var record = ChannelRecord(relID: relID, device: device, queue: queue)
            if state.connection != nil, state.offersRequested {
                post(offer(for: record), state: state)
                record.offeredToGuest = true
            }
            state.channels[relID] = record
            return .success(relID)
        }
        return try result.get()
    }

    /// Hot-removes a device: sends RESCIND_CHANNELOFFER (Linux
    /// `vmbus_onoffer_rescind`: the driver's remove runs, the guest closes the channel, tears
    /// down its GPADLs and answers RELID_RELEASED).
    ///
    /// An open channel stays open until the guest closes it: Linux's remove path may still talk
    /// to the device (netvsc's RNDIS requests of a probe that was running, storvsc's last I/O)
    /// and waits for answers without a timeout. A guest that never closes it is cut off with
    /// `closeRescinded(relID:)` (the caller's deadline); from then on the device is gone for the
    /// host. The relid stays reserved, and the GPADLs the guest still holds stay known, until
    /// RELID_RELEASED.
    /// - Parameter onReleased: called once on the device's queue (after `closed`) when the guest
    ///   released the relid, at once if the guest never saw the offer, or when the connection
    ///   resets (UNLOAD, a new kernel); not called while the guest stays silent.
    public func rescind(relID: UInt32, onReleased: (@Sendable () -> Void)? = nil) throws(VMBusHostError) {
        let found: Bool = state.withLock { state in
            guard var record = state.channels[relID], !record.rescinded else { return false }
            state.pending = state.pending.filter { $0.value.relID != relID }
            if record.offeredToGuest, state.connection != nil {
                record.rescinded = true
                record.onReleased = onReleased
                state.channels[relID] = record
                post(RescindChannelOffer(childRelID: relID), state: state)
            } else {
                closeChannel(&record, reason: "rescind")
                dropGPADLs(of: relID, state: &state)
                state.channels[relID] = nil
                if let onReleased { record.queue.async(execute: onReleased) }
            }
            return true
        }
        if !found { throw .noSuchChannel(relID) }
    }

    /// Closes a rescinded channel the guest has not closed (the caller's deadline ran out): the
    /// device gets `closed` and no ring page is touched again. The relid stays reserved until
    /// RELID_RELEASED. Does nothing for a channel that is closed, gone or not rescinded.
    public func closeRescinded(relID: UInt32) {
        state.withLock { state in
            guard var record = state.channels[relID], record.rescinded else { return }
            closeChannel(&record, reason: "rescinded and not closed by the guest in time")
            state.channels[relID] = record
        }
    }

    /// Waits until channel `relID`'s device queue has run everything queued so far: after it,
    /// no request the device was handling is still running (hot-remove drains I/O this way).
    public func waitForIdle(relID: UInt32) {
        let queue = state.withLock { $0.channels[relID]?.queue }
        queue?.sync {}
    }

    /// The relid of a registered device that is not rescinded, or `nil`.
    public func relID(of device: any VMBusDevice) -> UInt32? {
        state.withLock { state in
            state.channels.values.first { $0.device === device && !$0.rescinded }?.relID
        }
    }

    /// The phase of channel `relID`, or `nil` if there is none.
    public func phase(of relID: UInt32) -> ChannelPhase? {
        state.withLock { state in state.channels[relID].map(\.phase) }
    }

    /// The GPADL with `handle`, if created (devices use it for receive/send buffers).
    public func gpadl(_ handle: UInt32) -> GPADL? { state.withLock { $0.gpadls[handle] } }

    /// Waits until every device queue has run what was queued so far (tests, shutdown).
    public func waitForIdle() {
        let queues = state.withLock { state in state.channels.values.map(\.queue) }
        for queue in queues { queue.sync {} }
    }

    // MARK: HypercallMessageHandler

    /// HvPostMessage from the guest: one channel-management message.
    public func postMessage(connectionID: UInt32, messageType: UInt32, payload: [UInt8], vp: UInt32) -> HvStatus {
        guard connectionID == VMBusConnectionID.message || connectionID == VMBusConnectionID.message4 else {
            logger.debug("vmbus: HvPostMessage on unknown connection id \(connectionID)")
            return .invalidConnectionID
        }
        let type: VMBusMessageType
        do {
            guard payload.count >= 8 else { throw WireError.truncated(needed: 8, at: 0, available: payload.count) }
            type = try vmbusMessageType(of: payload)
        } catch {
            logger.warning("vmbus: message of \(payload.count) bytes has no header; dropped")
            return .success
        }
        do throws(WireError) {
            try state.withLock { state throws(WireError) in
                try dispatch(type, payload, connectionID: connectionID, state: &state)
            }
        } catch {
            logger.warning("vmbus: malformed \(type) (\(payload.count) bytes): \(error); dropped")
        }
        return .success
    }

    /// HvSignalEvent from the guest: a channel has work (or freed ring space).
    public func signalEvent(connectionID: UInt32, flagNumber: UInt16, vp: UInt32) -> HvStatus {
        guard connectionID > Self.channelConnectionIDBase,
            connectionID <= Self.channelConnectionIDBase + VMBusConnectionID.maxRelID
        else { return .invalidPortID }
        let relID = connectionID - Self.channelConnectionIDBase
        let channel = state.withLock { state -> ActiveChannel? in
            if case .open(let channel)? = state.channels[relID]?.runtime { return channel }
            return nil
        }
        guard let channel else { return .invalidPortID }
        channel.signal()
        return .success
    }

    // MARK: Message dispatch (lock held)

    private func dispatch(
        _ type: VMBusMessageType, _ payload: [UInt8], connectionID: UInt32, state: inout HostState
    ) throws(WireError) {
        if type == .initiateContact {
            handleInitiateContact(try InitiateContact.decode(payload), connectionID: connectionID, state: &state)
            return
        }
        guard state.connection != nil else {
            logger.warning("vmbus: \(type) before INITIATE_CONTACT; dropped")
            return
        }
        switch type {
        case .requestOffers: handleRequestOffers(state: &state)
        case .gpadlHeader: handleGPADLHeader(try GPADLHeader.decode(payload), state: &state)
        case .gpadlBody: handleGPADLBody(try GPADLBody.decode(payload), state: &state)
        case .gpadlTeardown: handleGPADLTeardown(try GPADLTeardown.decode(payload), state: &state)
        case .openChannel: handleOpenChannel(try OpenChannel.decode(payload), state: &state)
        case .closeChannel: handleCloseChannel(try CloseChannel.decode(payload), state: &state)
        case .relIDReleased: handleRelIDReleased(try RelIDReleased.decode(payload), state: &state)
        case .unload:
            resetConnection(state: &state, reason: "unload")
            post(UnloadResponse(), vp: state.lastTargetVP, sint: state.lastSINT)
        case .modifyChannel: handleModifyChannel(try ModifyChannel.decode(payload), state: &state)
        case .tlConnectRequest:
            let request = try TLConnectRequest.decode(payload)
            logger.info("vmbus: hv_sock connect to service \(request.hostServiceID) ignored: no hv_sock services")
        default:
            logger.warning("vmbus: unexpected message type \(type.rawValue) from the guest; dropped")
        }
    }

    private func handleInitiateContact(_ message: InitiateContact, connectionID: UInt32, state: inout HostState) {
        if state.connection != nil {
            // A new kernel (kexec or crash without UNLOAD): forget the old connection.
            resetConnection(state: &state, reason: "re-contact")
        }
        let version = message.versionRequested
        let sint = version >= .win10_v5 ? message.messageSINT : VMBusConnectionID.messageSINT
        let vpValid = message.targetVCPU < configuration.vpCount
        let replyVP = vpValid ? message.targetVCPU : 0
        let sintValid = sint > 0 && sint < 16
        let replySINT = sintValid ? sint : VMBusConnectionID.messageSINT
        guard configuration.supportedVersions.contains(version), vpValid, sintValid else {
            logger.info("vmbus: refused version \(version) (vp \(message.targetVCPU), sint \(sint))")
            post(VersionResponse(versionSupported: false, messageConnectionID: 0), vp: replyVP, sint: replySINT)
            return
        }
        state.connection = Connection(version: version, targetVP: message.targetVCPU, sint: sint)
        state.lastTargetVP = message.targetVCPU
        state.lastSINT = sint
        logger.info("vmbus: guest connected with version \(version) on connection id \(connectionID)")
        post(VersionResponse(versionSupported: true, messageConnectionID: VMBusConnectionID.message), state: state)
    }

    private func handleRequestOffers(state: inout HostState) {
        if !state.offersRequested {
            state.offersRequested = true
            for relID in state.channels.keys.sorted() {
                guard var record = state.channels[relID], !record.rescinded else { continue }
                post(offer(for: record), state: state)
                record.offeredToGuest = true
                state.channels[relID] = record
            }
        }
        post(AllOffersDelivered(), state: state)
    }

    private func handleGPADLHeader(_ header: GPADLHeader, state: inout HostState) {
        let target = replyTarget(state)
        let fail = { (why: String) in
            self.logger.warning("vmbus: GPADL 0x\(String(header.gpadl, radix: 16)) refused: \(why)")
            self.post(
                GPADLCreated(childRelID: header.childRelID, gpadl: header.gpadl, status: .invalidParameter),
                vp: target.vp, sint: target.sint)
        }
        guard let record = state.channels[header.childRelID], !record.rescinded else {
            return fail("no channel \(header.childRelID)")
        }
        guard state.gpadls[header.gpadl] == nil, state.pending[header.gpadl] == nil else {
            return fail("handle in use")
        }
        guard state.gpadls.count + state.pending.count < configuration.maxGPADLs,
            state.pending.count < configuration.maxPendingGPADLs
        else { return fail("too many GPADLs") }
        do throws(GPADLError) {
            let pending = try PendingGPADL(header: header)
            if pending.isComplete {
                completeGPADL(pending, state: &state)
            } else {
                state.pending[header.gpadl] = pending
            }
        } catch {
            fail("\(error)")
        }
    }

    private func handleGPADLBody(_ body: GPADLBody, state: inout HostState) {
        guard var pending = state.pending.removeValue(forKey: body.gpadl) else {
            // Its header was refused (already answered) or never sent: nothing to answer.
            logger.debug("vmbus: GPADL_BODY for unknown handle 0x\(String(body.gpadl, radix: 16)); dropped")
            return
        }
        do throws(GPADLError) {
            try pending.append(body.rangeBytes)
        } catch {
            logger.warning("vmbus: GPADL 0x\(String(body.gpadl, radix: 16)) refused: \(error)")
            post(GPADLCreated(childRelID: pending.relID, gpadl: body.gpadl, status: .invalidParameter), state: state)
            return
        }
        if pending.isComplete {
            completeGPADL(pending, state: &state)
        } else {
            state.pending[body.gpadl] = pending
        }
    }

    private func completeGPADL(_ pending: PendingGPADL, state: inout HostState) {
        do throws(GPADLError) {
            let gpadl = try pending.finish(memory: memory, maxPages: configuration.maxGPADLPages)
            state.gpadls[gpadl.handle] = gpadl
            post(GPADLCreated(childRelID: pending.relID, gpadl: pending.handle, status: .success), state: state)
        } catch {
            logger.warning("vmbus: GPADL 0x\(String(pending.handle, radix: 16)) refused: \(error)")
            post(GPADLCreated(childRelID: pending.relID, gpadl: pending.handle, status: .invalidParameter), state: state)
        }
    }

    private func handleGPADLTeardown(_ message: GPADLTeardown, state: inout HostState) {
        state.pending[message.gpadl] = nil
        if state.gpadls.removeValue(forKey: message.gpadl) != nil {
            // A guest tearing down a ring still in use: stop using the pages before answering.
            for relID in state.channels.keys {
                guard var record = state.channels[relID], record.ringGPADL == message.gpadl else { continue }
                closeChannel(&record, reason: "ring GPADL torn down")
                state.channels[relID] = record
            }
        } else {
            logger.info("vmbus: GPADL_TEARDOWN of unknown handle 0x\(String(message.gpadl, radix: 16))")
        }
        post(GPADLTorndown(gpadl: message.gpadl), state: state)
    }

    private func handleOpenChannel(_ message: OpenChannel, state: inout HostState) {
        let target = replyTarget(state)
        let fail = { (why: String) in
            self.logger.warning("vmbus: OPENCHANNEL relid \(message.childRelID) refused: \(why)")
            self.post(
                OpenChannelResult(childRelID: message.childRelID, openID: message.openID, status: .unsuccessful),
                vp: target.vp, sint: target.sint)
        }
        guard var record = state.channels[message.childRelID], record.phase == .offered else {
            // A rescinded channel reports `.rescinded`, so it cannot be (re)opened either.
            return fail("channel not offered or already open")
        }
        let channel: ActiveChannel
        do throws(ChannelSetupError) {
            channel = try makeChannel(
                record, ringGPADL: message.ringBufferGPADL, split: Int(message.downstreamRingBufferPageOffset),
                targetVP: message.targetVP, state: state)
        } catch {
            return fail(error.reason)
        }
        record.runtime = .open(channel)
        record.ringGPADL = message.ringBufferGPADL
        state.channels[record.relID] = record
        post(OpenChannelResult(childRelID: message.childRelID, openID: message.openID, status: .success), state: state)
        let device = record.device
        record.queue.async { device.opened(channel: channel.endpoint) }
        // Anything the guest queued before the open completed.
        channel.signal()
    }

    private func handleCloseChannel(_ message: CloseChannel, state: inout HostState) {
        guard var record = state.channels[message.childRelID] else {
            logger.info("vmbus: CLOSECHANNEL of unknown relid \(message.childRelID)")
            return
        }
        closeChannel(&record, reason: "guest close")
        state.channels[message.childRelID] = record
    }

    private func handleRelIDReleased(_ message: RelIDReleased, state: inout HostState) {
        guard var record = state.channels[message.childRelID], record.rescinded else {
            // Late or repeated (after a reset, or a relid never rescinded): nothing to free.
            logger.info("vmbus: RELID_RELEASED of relid \(message.childRelID), which is not rescinded")
            return
        }
        // A guest that releases without closing first: the channel ends here.
        closeChannel(&record, reason: "relid released")
        // GPADLs the guest did not tear down die with the relid.
        dropGPADLs(of: message.childRelID, state: &state)
        state.channels[message.childRelID] = nil
        logger.info("vmbus: relid \(message.childRelID) released by the guest")
        if let onReleased = record.onReleased { record.queue.async(execute: onReleased) }
    }

    private func handleModifyChannel(_ message: ModifyChannel, state: inout HostState) {
        var status = VMBusStatus.unsuccessful
        if case .open(let channel)? = state.channels[message.childRelID]?.runtime, message.targetVP < configuration.vpCount {
            channel.endpoint.setTargetVP(message.targetVP)
            status = .success
        } else {
            logger.warning("vmbus: MODIFYCHANNEL relid \(message.childRelID) to VP \(message.targetVP) refused")
        }
        if let version = state.connection?.version, version >= .win10_v5_3 {
            post(ModifyChannelResponse(childRelID: message.childRelID, status: status), state: state)
        }
    }

    // MARK: Helpers (lock held)

    /// Why a channel's ring cannot be set up (the reason goes to the log or a saved-state error).
    struct ChannelSetupError: Error {
        let reason: String
    }

    /// Builds an open channel over the pages of GPADL `ringGPADL`: guest → host from page 0,
    /// host → guest from `split`. `indices` resumes the host's private indices (restore); without
    /// them they are read from the ring headers (OPENCHANNEL).
    func makeChannel(
        _ record: ChannelRecord, ringGPADL handle: UInt32, split: Int, targetVP: UInt32, state: HostState,
        indices: (read: UInt32, write: UInt32)? = nil
    ) throws(ChannelSetupError) -> ActiveChannel {
        guard let gpadl = state.gpadls[handle], gpadl.relID == record.relID else {
            throw ChannelSetupError(reason: "no GPADL 0x\(String(handle, radix: 16)) for this channel")
        }
        guard targetVP < configuration.vpCount else { throw ChannelSetupError(reason: "target VP \(targetVP)") }
        let pages = gpadl.pageNumbers
        guard gpadl.isPageAligned, split >= 2, pages.count - split >= 2 else {
            throw ChannelSetupError(reason: "ring of \(pages.count) pages split at \(split)")
        }
        do throws(RingError) {
            let inbound = GuestRing(memory: memory, pages: pages[0..<split])
            let outbound = GuestRing(memory: memory, pages: pages[split...])
            let maxPacketSize = record.device.offer.maxIncomingPacketSize
            let reader: RingReader
            let writer: RingWriter
            if let indices {
                reader = try RingReader(ring: inbound, maxPacketSize: maxPacketSize, readIndex: indices.read)
                writer = try RingWriter(ring: outbound, writeIndex: indices.write)
            } else {
                reader = try RingReader(ring: inbound, maxPacketSize: maxPacketSize)
                writer = try RingWriter(ring: outbound)
            }
            let endpoint = ChannelEndpoint(
                relID: record.relID, connectionID: Self.channelConnectionIDBase + record.relID, memory: memory,
                writer: writer, reader: reader, targetVP: targetVP, port: port, sint: VMBusConnectionID.messageSINT)
            return ActiveChannel(endpoint: endpoint, device: record.device, queue: record.queue, logger: logger)
        } catch {
            throw ChannelSetupError(reason: "\(error)")
        }
    }

    /// Closes the channel if open and tells its device on the device's queue.
    private func closeChannel(_ record: inout ChannelRecord, reason: String) {
        guard case .open(let channel) = record.runtime else { return }
        record.runtime = .closed
        record.ringGPADL = nil
        if channel.endpoint.close() {
            logger.debug("vmbus: relid \(record.relID) closed: \(reason)")
            let device = record.device
            record.queue.async { device.closed(channel: channel.endpoint) }
        }
    }

    private func dropGPADLs(of relID: UInt32, state: inout HostState) {
        state.gpadls = state.gpadls.filter { $0.value.relID != relID }
        state.pending = state.pending.filter { $0.value.relID != relID }
    }

    /// Tears down every channel and GPADL (UNLOAD or a new INITIATE_CONTACT); devices stay registered.
    private func resetConnection(state: inout HostState, reason: String) {
        for relID in state.channels.keys {
            guard var record = state.channels[relID] else { continue }
            if record.rescinded {
                closeChannel(&record, reason: reason)
                state.channels[relID] = nil
                if let onReleased = record.onReleased { record.queue.async(execute: onReleased) }
                continue
            }
            closeChannel(&record, reason: reason)
            record.offeredToGuest = false
            state.channels[relID] = record
        }
        state.gpadls = [:]
        state.pending = [:]
        state.connection = nil
        state.offersRequested = false
        logger.info("vmbus: connection reset (\(reason))")
    }

    private func offer(for record: ChannelRecord) -> OfferChannel {
        let info = record.device.offer
        return OfferChannel(
            interfaceType: info.classID, interfaceInstance: info.instanceID, channelFlags: info.channelFlags,
            mmioMegabytes: info.mmioMegabytes, userDefined: info.userDefined, childRelID: record.relID,
            monitorID: 0xFF, monitorAllocated: false, isDedicatedInterrupt: true,
            connectionID: Self.channelConnectionIDBase + record.relID)
    }

    private func replyTarget(_ state: HostState) -> (vp: UInt32, sint: UInt8) {
        (state.connection?.targetVP ?? state.lastTargetVP, state.connection?.sint ?? state.lastSINT)
    }

    private func post(_ message: some VMBusChannelMessage, state: HostState) {
        let target = replyTarget(state)
        post(message, vp: target.vp, sint: target.sint)
    }

    private func post(_ message: some VMBusChannelMessage, vp: UInt32, sint: UInt8) {
        port.postMessage(vp: vp, sint: sint, messageType: VMBusConnectionID.synicMessageType, payload: message.encode())
    }
}

/// The negotiated connection.
struct Connection: Sendable {
    let version: VMBusVersion
    /// Where channel-management messages go (INITIATE_CONTACT `target_vcpu`).
    let targetVP: UInt32
    let sint: UInt8
}

/// One registered device and its channel.
struct ChannelRecord: Sendable {
    enum Runtime: Sendable {
        case closed
        case open(ActiveChannel)
    }
    let relID: UInt32
    let device: any VMBusDevice
    /// The device's serial queue: all its callbacks run here.
    let queue: DispatchQueue
    var runtime: Runtime = .closed
    var offeredToGuest = false
    var ringGPADL: UInt32?
    /// RESCIND_CHANNELOFFER was sent; the relid waits for RELID_RELEASED. The channel may still
    /// be open until the guest closes it.
    var rescinded = false
    /// Set while rescinded: who waits for the guest's RELID_RELEASED.
    var onReleased: (@Sendable () -> Void)?

    init(relID: UInt32, device: any VMBusDevice, queue: DispatchQueue) {
        self.relID = relID
        self.device = device
        self.queue = queue
    }

    var phase: ChannelPhase {
        if rescinded { return .rescinded }
        switch runtime {
        case .closed: return .offered
        case .open: return .open
        }
    }
}

/// Everything the host's lock guards.
struct HostState: Sendable {
    var connection: Connection?
    var offersRequested = false
    var channels: [UInt32: ChannelRecord] = [:]
    var gpadls: [UInt32: GPADL] = [:]
    var pending: [UInt32: PendingGPADL] = [:]
    /// Where to answer when there is no connection (UNLOAD after a reset).
    var lastTargetVP: UInt32 = 0
    var lastSINT: UInt8 = VMBusConnectionID.messageSINT
}
