import GuestMemory
import Logging
import Synchronization
import VMBus

/// The host side of a Hyper-V synthetic network adapter (what Linux `hv_netvsc` drives): NVSP on
/// the VMBus channel, RNDIS inside it, frames to and from a `PacketBackend` (protocol doc §10).
///
/// Guest → host: NVSP messages in-band or GPA-direct; RNDIS messages from send-buffer sections or
/// GPA-direct pages, each answered with a SEND_RNDIS_PKT_COMPLETE. Host → guest: RNDIS responses
/// and received frames are copied into a free receive-buffer section and announced with a
/// transfer-page packet; the guest's completion frees the section. When no section is free or the
/// ring is full, frames are dropped (counted) and control responses wait in a short queue: the
/// host never blocks on the guest.
///
/// Only the primary channel is used: the RSS capability query fails, so the guest asks for no
/// subchannels. No offloads are advertised (checksums and segmentation stay in the guest).
///
/// ## Concurrency model
/// All protocol state is in one `Mutex`. `packetReceived`/`opened`/`closed` run on the channel's
/// queue, `receiveFrame` on the backend's reader thread, status reads anywhere; each takes the
/// lock for the whole message, so a guest message and a host frame never interleave. Frames for
/// the backend are handed over after the lock is released.
public final class NetworkAdapter: VMBusDevice {
    public let offer: ChannelOfferInfo
    /// The adapter's MAC address (6 bytes), reported as the permanent and current address.
    public let macAddress: [UInt8]
    let backend: any PacketBackend
    let gpadlLookup: @Sendable (UInt32) -> GPADL?
    let logger: Logger
    let state = Mutex(AdapterState())

    /// Control responses waiting for a free receive section, at most this many.
    static let maxPendingControl = 64
    /// Completions waiting for ring space, at most this many (a guest has far fewer requests in
    /// flight: each one took ring space on its way in).
    static let maxPendingCompletions = 16384
    /// RNDIS messages accepted in one SEND_RNDIS_PKT.
    static let maxMessagesPerPacket = 64
    /// Link speed reported to the guest, in 100 bit/s units (10 Gbit/s).
    static let linkSpeed: UInt32 = 100_000_000
    static let mtu = 1500

    /// - Parameters:
    ///   - macAddress: six bytes.
    ///   - instanceID: the VMBus instance GUID (unique in the VM).
    ///   - backend: started here; stopped by `shutdown()`.
    ///   - gpadlLookup: finds a GPADL the guest created on this VM's VMBus (receive/send buffers).
    public init(
        macAddress: [UInt8], instanceID: GUID, backend: any PacketBackend,
        gpadlLookup: @escaping @Sendable (UInt32) -> GPADL?, logger: Logger
    ) {
        precondition(macAddress.count == 6, "a MAC address is six bytes")
        self.macAddress = macAddress
        self.backend = backend
        self.gpadlLookup = gpadlLookup
        self.logger = logger
        offer = ChannelOfferInfo(classID: NetvscConstants.classID, instanceID: instanceID)
        backend.start { [weak self] frame in self?.receiveFrame(frame) }
    }

    /// Stops the backend (no more host frames).
    public func shutdown() { backend.stop() }

    /// Counters and link state now.
    public var status: NetworkAdapterStatus {
        let mac = macAddress.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
        return state.withLock { state in
            NetworkAdapterStatus(
                macAddress: mac, backend: backend.name, nvspVersion: state.nvspVersion,
                linkUp: state.endpoint != nil && state.rndisInitialized && state.packetFilter != 0,
                statistics: state.statistics)
        }
    }

    // MARK: VMBusDevice

    public func opened(channel: ChannelEndpoint) {
        state.withLock { state in
            // A reopen (MTU change, driver reload) starts the protocol over; counters carry on.
            state.restart(endpoint: channel)
        }
    }

    public func closed(channel: ChannelEndpoint) {
        state.withLock { state in
            state.restart(endpoint: nil)
        }
    }

    public func sendSpaceAvailable(channel: ChannelEndpoint) {
        state.withLock { flushPending(&$0) }
    }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        let frames = state.withLock { state -> [[UInt8]] in
            guard state.endpoint === channel else { return [] }
            var frames: [[UInt8]] = []
            handle(packet, state: &state, frames: &frames)
            return frames
        }
        guard !frames.isEmpty else { return }
        var sent = 0
        var bytes = 0
        for frame in frames where backend.transmit(frame) {
            sent += 1
            bytes += frame.count
        }
        state.withLock { state in
            state.statistics.txPackets += UInt64(sent)
            state.statistics.txBytes += UInt64(bytes)
            state.statistics.txDrops += UInt64(frames.count - sent)
        }
    }

    // MARK: guest → host

    private func handle(_ packet: VMBusPacket, state: inout AdapterState, frames: inout [[UInt8]]) {
        switch packet.type {
        case .completion:
            guard state.receive?.complete(transactionID: packet.transactionID) == true else {
                return reject("completion for unknown transaction 0x\(String(packet.transactionID, radix: 16))", &state)
            }
            flushPending(&state)
        case .dataInband:
            handleNVSP(packet, ranges: [], state: &state, frames: &frames)
        case .dataUsingGPADirect:
            do {
                let ranges = try packet.gpaDirectRanges(maxPages: 64)
                handleNVSP(packet, ranges: ranges, state: &state, frames: &frames)
            } catch {
                reject("bad GPA-direct packet: \(error)", &state)
                complete(packet, .sendRNDISPacketComplete, status: .failure, state: &state)
            }
        default:
            reject("packet type \(packet.type.rawValue)", &state)
        }
    }

    private func handleNVSP(_ packet: VMBusPacket, ranges: [GPARange], state: inout AdapterState, frames: inout [[UInt8]]) {
        let message = WireReader(Array(packet.payload.prefix(NVSPLayout.messageSize)))
        guard let rawType = try? message.load(UInt32.self, at: 0) else {
            return reject("NVSP message of \(message.count) bytes", &state)
        }
        let field = { (offset: Int) -> UInt32? in try? message.load(UInt32.self, at: offset) }
        switch NVSPMessageType(rawValue: rawType) {
        case .initialize:
            guard let low = field(NVSPLayout.initMinVersion), let high = field(NVSPLayout.initMaxVersion) else {
                return reject("short INIT", &state)
            }
            let version = NVSPVersion.supported.filter { $0 >= low && $0 <= high }.max()
            if let version { state.nvspVersion = version }
            send(
                completionOf: packet,
                nvspMessage(
                    .initializeComplete,
                    [
                        (NVSPLayout.initCompleteVersion, version ?? 0), (NVSPLayout.initCompleteMaxMDLChain, 34),
                        (NVSPLayout.initCompleteStatus, (version == nil ? NVSPStatus.failure : .success).rawValue),
                    ]), state: &state)
        case .sendNDISConfig, .sendNDISVersion:
            // Informational (MTU, capabilities, NDIS version); Linux expects no answer.
            if packet.completionRequested { complete(packet, NVSPMessageType(rawValue: rawType), status: .success, state: &state) }
        case .sendReceiveBuffer:
            setUpReceiveBuffer(packet, gpadl: field(NVSPLayout.bufferGPADL), state: &state)
        case .sendSendBuffer:
            setUpSendBuffer(packet, gpadl: field(NVSPLayout.bufferGPADL), state: &state)
        case .revokeReceiveBuffer:
            state.receive = nil
            state.pendingControl = []
        case .revokeSendBuffer:
            state.send = nil
        case .sendRNDISPacket:
            let ok = handleRNDISPacket(message, ranges: ranges, state: &state, frames: &frames)
            complete(packet, .sendRNDISPacketComplete, status: ok ? .success : .failure, state: &state)
        case .subchannel:
            // No subchannels: the guest only asks when RSS is offered, and it is not.
            complete(packet, .subchannel, status: .failure, state: &state)
        default:
            reject("NVSP message type \(rawType)", &state)
            if packet.completionRequested {
                complete(packet, NVSPMessageType(rawValue: rawType), status: .failure, state: &state)
            }
        }
    }

    private func setUpReceiveBuffer(_ packet: VMBusPacket, gpadl handle: UInt32?, state: inout AdapterState) {
        var receive: ReceiveBuffer?
        if state.receive == nil, let handle, let gpadl = gpadlLookup(handle), gpadl.relID == state.endpoint?.relID,
            let buffer = GuestBuffer(gpadl)
        {
            receive = ReceiveBuffer(buffer: buffer, sectionSize: NetvscConstants.receiveSectionSize)
        }
        if receive == nil { reject("receive buffer GPADL \(handle.map { String($0, radix: 16) } ?? "?") refused", &state) }
        state.receive = receive ?? state.receive
        let count = UInt32(receive?.sectionCount ?? 0)
        let size = UInt32(NetvscConstants.receiveSectionSize)
        send(
            completionOf: packet,
            nvspMessage(
                .sendReceiveBufferComplete,
                [
                    (NVSPLayout.receiveCompleteStatus, (receive == nil ? NVSPStatus.failure : .success).rawValue),
                    (NVSPLayout.receiveCompleteSections, receive == nil ? 0 : 1),
                    (NVSPLayout.receiveCompleteSection0, 0), (NVSPLayout.receiveCompleteSection0 + 4, size),
                    (NVSPLayout.receiveCompleteSection0 + 8, count),
                    (NVSPLayout.receiveCompleteSection0 + 12, size * count),
                ]), state: &state)
    }

    private func setUpSendBuffer(_ packet: VMBusPacket, gpadl handle: UInt32?, state: inout AdapterState) {
        var buffer: GuestBuffer?
        if state.send == nil, let handle, let gpadl = gpadlLookup(handle), gpadl.relID == state.endpoint?.relID,
            let candidate = GuestBuffer(gpadl), candidate.size >= NetvscConstants.sendSectionSize
        {
            buffer = candidate
        }
        if buffer == nil { reject("send buffer GPADL \(handle.map { String($0, radix: 16) } ?? "?") refused", &state) }
        state.send = buffer ?? state.send
        send(
            completionOf: packet,
            nvspMessage(
                .sendSendBufferComplete,
                [
                    (NVSPLayout.sendCompleteStatus, (buffer == nil ? NVSPStatus.failure : .success).rawValue),
                    (NVSPLayout.sendCompleteSectionSize, UInt32(NetvscConstants.sendSectionSize)),
                ]), state: &state)
    }

    /// Collects the RNDIS bytes of a SEND_RNDIS_PKT (send-buffer section, then any GPA ranges)
    /// and processes every message in them.
    /// - Returns: false when the packet was malformed.
    private func handleRNDISPacket(
        _ message: WireReader, ranges: [GPARange], state: inout AdapterState, frames: inout [[UInt8]]
    ) -> Bool {
        guard let index = try? message.load(UInt32.self, at: NVSPLayout.rndisSectionIndex),
            let length = try? message.load(UInt32.self, at: NVSPLayout.rndisSectionSize)
        else {
            reject("short SEND_RNDIS_PKT", &state)
            return false
        }
        guard let memory = state.endpoint?.memory else { return false }
        var bytes: [UInt8] = []
        if index != NetvscConstants.invalidSectionIndex {
            let sectionSize = NetvscConstants.sendSectionSize
            guard let send = state.send, gpadlLookup(send.gpadlHandle) != nil, Int(length) <= sectionSize,
                Int(index) < send.size / sectionSize,
                send.contains(offset: Int(index) * sectionSize, count: Int(length)),
                let copied = try? send.read(at: Int(index) * sectionSize, count: Int(length), memory: memory)
            else {
                reject("send section \(index) of \(length) bytes refused", &state)
                return false
            }
            bytes = copied
        }
        for range in ranges {
            guard range.gather(into: &bytes, memory: memory, limit: NetvscConstants.maxGuestMessage) else {
                reject("GPA-direct range outside RAM or over \(NetvscConstants.maxGuestMessage) bytes", &state)
                return false
            }
        }
        return processRNDIS(bytes, state: &state, frames: &frames)
    }

    // MARK: host → guest

    /// Called by the backend with a frame from the host network.
    public func receiveFrame(_ frame: [UInt8]) {
        state.withLock { state in
            guard !state.deliveryPaused, state.rndisInitialized, state.packetFilter != 0, state.receive != nil else {
                state.statistics.rxDrops += 1
                return
            }
            guard passesFilter(frame, filter: state.packetFilter) else {
                state.statistics.rxFiltered += 1
                return
            }
            let header = rndisPacketHeader(frameLength: frame.count)
            if deliver(header, frame, channelType: NVSPChannelType.data, state: &state) {
                state.statistics.rxPackets += 1
                state.statistics.rxBytes += UInt64(frame.count)
            } else {
                state.statistics.rxDrops += 1
            }
        }
    }

    /// Copies `head` + `tail` into a free receive section and sends the transfer-page packet.
    /// - Returns: false (nothing sent, section still free) when there is no room.
    func deliver(_ head: [UInt8], _ tail: [UInt8], channelType: UInt32, state: inout AdapterState) -> Bool {
        guard let endpoint = state.endpoint, var receive = state.receive,
            head.count + tail.count <= receive.sectionSize
        else { return false }
        // A guest that tears the buffer's GPADL down without revoking it first gets no more
        // writes into those pages (they may be reused by now).
        guard gpadlLookup(receive.buffer.gpadlHandle) != nil else {
            state.receive = nil
            reject("receive buffer GPADL torn down while in use", &state)
            return false
        }
        guard let section = receive.take() else { return false }
        defer { state.receive = receive }
        let offset = Int(section) * receive.sectionSize
        do {
            try receive.buffer.write(head, at: offset, memory: endpoint.memory)
            if !tail.isEmpty { try receive.buffer.write(tail, at: offset + head.count, memory: endpoint.memory) }
        } catch {
            receive.giveBack(section)
            return false
        }
        var transfer = WireWriter(size: 16)
        transfer.store(NetvscConstants.receiveBufferID, at: 0)  // xfer_pageset_id
        transfer.store(UInt32(1), at: 4)  // range_cnt
        transfer.store(UInt32(head.count + tail.count), at: 8)  // byte_count
        transfer.store(UInt32(offset), at: 12)  // byte_offset
        var nvsp = WireWriter(size: NVSPLayout.rndisPacketSize)
        nvsp.store(NVSPMessageType.sendRNDISPacket.rawValue, at: 0)
        nvsp.store(channelType, at: NVSPLayout.rndisChannelType)
        nvsp.store(NetvscConstants.invalidSectionIndex, at: NVSPLayout.rndisSectionIndex)
        do {
            try endpoint.send(
                type: .dataUsingTransferPages, flags: PacketDescriptor.completionRequested,
                transactionID: ReceiveBuffer.transactionID(section: section), header: transfer.bytes, payload: nvsp.bytes)
            return true
        } catch {
            receive.giveBack(section)
            return false
        }
    }

    /// Queues an RNDIS control response and sends what fits.
    func sendControl(_ response: [UInt8], state: inout AdapterState) {
        guard state.pendingControl.count < Self.maxPendingControl else {
            return reject("control response queue full; response dropped", &state)
        }
        state.pendingControl.append(response)
        flushPending(&state)
    }

    /// Sends queued completions, then queued control responses, while they fit.
    private func flushPending(_ state: inout AdapterState) {
        let completions = state.pendingCompletions
        var sent = 0
        while sent < completions.count, trySendCompletion(completions[sent].0, completions[sent].1, state: &state) {
            sent += 1
        }
        state.pendingCompletions.removeFirst(sent)
        guard state.pendingCompletions.isEmpty else { return }
        while let next = state.pendingControl.first {
            guard deliver(next, [], channelType: NVSPChannelType.control, state: &state) else { return }
            state.pendingControl.removeFirst()
        }
    }

    private func passesFilter(_ frame: [UInt8], filter: UInt32) -> Bool {
        guard frame.count >= 14 else { return false }
        if filter & PacketFilter.promiscuous != 0 { return true }
        if frame[0] & 1 == 0 { return filter & PacketFilter.directed != 0 && frame.prefix(6).elementsEqual(macAddress) }
        if frame.prefix(6).allSatisfy({ $0 == 0xFF }) { return filter & PacketFilter.broadcast != 0 }
        return filter & (PacketFilter.allMulticast | PacketFilter.multicast) != 0
    }

    // MARK: helpers

    /// Sends a completion, or queues it (in order) while the host → guest ring is full: the
    /// guest frees its send slot only on the completion, so one must never be lost.
    private func send(completionOf packet: VMBusPacket, _ payload: [UInt8], state: inout AdapterState) {
        if state.pendingCompletions.isEmpty, trySendCompletion(packet.transactionID, payload, state: &state) { return }
        guard state.pendingCompletions.count < Self.maxPendingCompletions else {
            // Only a guest that sends without ever reading its completions gets here.
            return reject("completion queue full; completion dropped", &state)
        }
        state.pendingCompletions.append((packet.transactionID, payload))
    }

    /// - Returns: false when the ring is full (the completion should wait).
    private func trySendCompletion(_ transactionID: UInt64, _ payload: [UInt8], state: inout AdapterState) -> Bool {
        guard let endpoint = state.endpoint else { return true }
        do throws(ChannelError) {
            try endpoint.sendCompletion(transactionID: transactionID, payload: payload)
        } catch .ringFull {
            return false
        } catch {
            reject("completion not sent: \(error)", &state)
        }
        return true
    }

    private func complete(_ packet: VMBusPacket, _ type: NVSPMessageType, status: NVSPStatus, state: inout AdapterState) {
        send(completionOf: packet, nvspMessage(type, [(NVSPLayout.completeStatus, status.rawValue)]), state: &state)
    }

    func reject(_ why: @autoclosure () -> String, _ state: inout AdapterState) {
        state.statistics.protocolErrors += 1
        if state.statistics.protocolErrors <= 16 { logger.warning("netvsc: \(why())") }
    }
}

/// `NDIS_PACKET_TYPE_*` bits of OID_GEN_CURRENT_PACKET_FILTER.
enum PacketFilter {
    static let directed: UInt32 = 0x1
    static let multicast: UInt32 = 0x2
    static let allMulticast: UInt32 = 0x4
    static let broadcast: UInt32 = 0x8
    static let promiscuous: UInt32 = 0x20
}

/// The adapter's mutable state (guarded by `NetworkAdapter.state`).
struct AdapterState: Sendable {
    var endpoint: ChannelEndpoint?
    var nvspVersion: UInt32?
    var receive: ReceiveBuffer?
    var send: GuestBuffer?
    var rndisInitialized = false
    var packetFilter: UInt32 = 0
    var pendingControl: [[UInt8]] = []
    var pendingCompletions: [(UInt64, [UInt8])] = []
    var statistics = NetworkAdapterStatistics()
    /// Set while a save is in progress: host frames are dropped (counted), so nothing is written
    /// into guest RAM behind the saved state. Survives reopen.
    var deliveryPaused = false

    /// Starts the protocol over on `endpoint` (open, close, restore); counters and the save
    /// pause carry on.
    mutating func restart(endpoint: ChannelEndpoint?) {
        let (statistics, paused) = (self.statistics, deliveryPaused)
        self = AdapterState()
        self.endpoint = endpoint
        self.statistics = statistics
        deliveryPaused = paused
    }
}
