import GuestMemory
import Logging
import Synchronization
import VMBus

/// One disk on the controller, for status reports.
public struct StorageLUNStatus: Sendable, Hashable {
    public var lun: UInt8
    public var path: String
    public var readOnly: Bool
    public var sizeBytes: UInt64
    public var statistics: SCSIDiskStatistics
}

/// The synthetic SCSI controller (storvsp, the host side of Linux's `hv_storvsc`): one VMBus
/// channel, one SCSI target (path 0, target 0) whose LUNs are `SCSIDisk`s.
///
/// The guest initializes the channel (BEGIN_INITIALIZATION, QUERY_PROTOCOL_VERSION,
/// QUERY_PROPERTIES, END_INITIALIZATION), then sends EXECUTE_SRB requests whose data buffer is a
/// GPA-direct range list; each gets a 64-byte `VM_PKT_COMP` echoing its transaction id.
///
/// LUNs can be added and removed while the guest runs (`attach`, `detach`): the table changes,
/// then an unsolicited ENUMERATE_BUS tells the guest to rescan (Linux `storvsc_host_scan`: a
/// TEST UNIT READY to every known LUN, where SRB_STATUS_INVALID_LUN removes the device, then a
/// REPORT LUNS scan that finds new ones).
///
/// ## Concurrency model
/// The VMBus host calls the device on the channel's own serial queue, so requests run there in
/// ring order, off the vCPU threads, and complete in that order. The protocol state, the LUN
/// table and the completions waiting for ring space are in `Mutex`es (status reads and hot-plug
/// come from other threads). A request takes its disk from the table when it starts, so a
/// detached disk may finish the one request running on the channel queue; the caller drains
/// that queue (`VMBusHost.waitForIdle(relID:)`) before closing the image.
public final class StorageController: VMBusDevice {
    public let offer: ChannelOfferInfo
    /// LUN → disk, for path 0 target 0.
    private let lunTable: Mutex<[UInt8: SCSIDisk]>
    /// The open channel, for unsolicited ENUMERATE_BUS packets.
    private let channel = Mutex<ChannelEndpoint?>(nil)
    /// LUN → disk now.
    public var disks: [UInt8: SCSIDisk] { lunTable.withLock { $0 } }
    /// `max_transfer_bytes` in QUERY_PROPERTIES; larger requests are refused.
    public let maxTransferBytes: Int
    let logger: Logger

    /// Completions that found the ring full are kept (in order) up to this many; a guest that
    /// never reads its ring loses the rest, instead of growing host memory.
    static let maxPendingCompletions = 4096

    enum Phase: Sendable, Equatable {
        case waitingForBegin
        case initializing
        case ready
    }

    struct State: Sendable {
        var phase = Phase.waitingForBegin
        var version: VStorProtocolVersion?
        var pending: [(transactionID: UInt64, payload: [UInt8])] = []
        var dropped: UInt64 = 0
    }
    let state = Mutex(State())

    /// - Parameters:
    ///   - instanceID: the controller's instance GUID (stable for the VM).
    ///   - disks: LUN → disk.
    public init(
        instanceID: GUID, disks: [UInt8: SCSIDisk], maxTransferBytes: Int = 512 * 1024,
        logger: Logger = Logger(label: "swifthv.storvsp")
    ) {
        lunTable = Mutex(disks)
        self.maxTransferBytes = maxTransferBytes
        self.logger = logger
        // A GPA-direct request: descriptor, range header, one PFN per page (+1 for an unaligned
        // start), then the 64-byte vstor_packet; anything bigger is not from storvsc.
        let maxPacket = 16 + 8 + 8 + 8 * (maxTransferBytes / 4096 + 1) + StorageLayout.packetSize
        offer = ChannelOfferInfo(
            classID: StorageLayout.scsiClassID, instanceID: instanceID, maxIncomingPacketSize: max(4096, maxPacket))
    }

    /// Whether the guest finished the init sequence.
    public var isReady: Bool { state.withLock { $0.phase == .ready } }

    /// The protocol version the guest negotiated.
    public var protocolVersion: VStorProtocolVersion? { state.withLock { $0.version } }

    /// Each disk with its LUN and counters, in LUN order.
    public var lunStatus: [StorageLUNStatus] {
        let disks = self.disks
        return disks.keys.sorted().compactMap { lun in
            guard let disk = disks[lun] else { return nil }
            return StorageLUNStatus(
                lun: lun, path: disk.path, readOnly: disk.disk.isReadOnly, sizeBytes: disk.disk.virtualSize,
                statistics: disk.statistics)
        }
    }

    // MARK: VMBusDevice

    public func opened(channel: ChannelEndpoint) {
        state.withLock { $0 = State() }
        self.channel.withLock { $0 = channel }
    }

    public func closed(channel: ChannelEndpoint) {
        state.withLock { $0 = State() }
        self.channel.withLock { $0 = nil }
    }

    // MARK: hot-plug

    /// Adds `disk` at `lun` and asks the guest to rescan the bus.
    /// - Throws: `StorageHotplugError.lunInUse` if the LUN holds a disk.
    public func attach(_ disk: SCSIDisk, lun: UInt8) throws(StorageHotplugError) {
        let added = lunTable.withLock { table -> Bool in
            guard table[lun] == nil else { return false }
            table[lun] = disk
            return true
        }
        guard added else { throw .lunInUse(lun) }
        logger.info("storvsp: LUN \(lun) attached (\(disk.path))")
        announceBusChange()
    }

    /// Removes the disk at `lun` and asks the guest to rescan the bus. Requests read after this
    /// find no LUN (SRB_STATUS_INVALID_LUN); the one running now, if any, finishes with the disk.
    /// - Returns: the disk, for the caller to close once the channel queue drained; nil if the
    ///   LUN was empty.
    @discardableResult
    public func detach(lun: UInt8) -> SCSIDisk? {
        guard let disk = lunTable.withLock({ $0.removeValue(forKey: lun) }) else { return nil }
        logger.info("storvsp: LUN \(lun) detached (\(disk.path))")
        announceBusChange()
        return disk
    }

    /// Sends the unsolicited ENUMERATE_BUS (transaction id 0, Hyper-V's way to say the LUNs
    /// changed). Without an initialized channel nothing is sent: the guest's first scan after
    /// it initializes sees the table as it is then.
    func announceBusChange() {
        guard isReady, let channel = channel.withLock({ $0 }) else { return }
        var w = CompletionWriter()
        w.put(VStorOperation.enumerateBus.rawValue, at: StorageLayout.operation)
        do { try channel.sendInband(w.bytes, transactionID: 0) } catch {
            // A full ring or a closed channel: the guest rescans on its next reset or boot.
            logger.warning("storvsp: ENUMERATE_BUS not sent (\(error)); the guest sees the LUN change at its next scan")
        }
    }

    public func sendSpaceAvailable(channel: ChannelEndpoint) {
        flushPending(channel)
    }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        guard packet.type == .dataInband || packet.type == .dataUsingGPADirect else {
            logger.debug("storvsp: ignoring packet type \(packet.type.rawValue)")
            return
        }
        complete(transactionID: packet.transactionID, payload: process(packet, memory: channel.memory), channel: channel)
    }

    /// Runs one guest packet (in-band or GPA-direct) and returns the 64-byte completion payload,
    /// without a channel: what `packetReceived` does before sending (also for benchmarks).
    public func process(_ packet: VMBusPacket, memory: GuestMemory) -> [UInt8] {
        do {
            return handle(try VStorPacket.decode(packet.payload), packet: packet, memory: memory)
        } catch {
            logger.debug("storvsp: malformed packet: \(error)")
            return StorageCompletion.status(.invalidDeviceState)
        }
    }

    // MARK: protocol

    /// The completion payload for one request.
    func handle(_ request: VStorPacket, packet: VMBusPacket, memory: GuestMemory) -> [UInt8] {
        switch request.operation {
        case .beginInitialization:
            state.withLock {
                $0.phase = .initializing
                $0.version = nil
            }
            return StorageCompletion.status(.success)
        case .queryProtocolVersion:
            let asked = request.field(UInt16.self, at: StorageLayout.protocolVersion)
            let revision = request.field(UInt16.self, at: StorageLayout.protocolRevision)
            let version = VStorProtocolVersion(rawValue: asked)
            guard VStorProtocolVersion.supported.contains(version) else {
                return StorageCompletion.protocolVersion(asked, revision: revision, status: .revisionMismatch)
            }
            state.withLock { $0.version = version }
            logger.debug("storvsp: protocol \(version)")
            return StorageCompletion.protocolVersion(asked, revision: revision, status: .success)
        case .queryProperties:
            return StorageCompletion.properties(maxTransferBytes: UInt32(clamping: maxTransferBytes))
        case .endInitialization:
            let ok = state.withLock { state -> Bool in
                guard state.phase == .initializing, state.version != nil else { return false }
                state.phase = .ready
                return true
            }
            if ok { logger.info("storvsp: guest initialized the SCSI controller (\(disks.count) LUNs)") }
            return StorageCompletion.status(ok ? .success : .invalidDeviceState)
        case .executeSRB:
            guard isReady else { return StorageCompletion.status(.invalidDeviceState) }
            return executeSRB(request, packet: packet, memory: memory)
        case .resetLUN, .resetAdapter, .resetBus:
            // Requests run to completion before the next is read: nothing is outstanding.
            return StorageCompletion.status(.success)
        default:
            logger.debug("storvsp: unsupported \(request.operation)")
            return StorageCompletion.status(.notSupported)
        }
    }

    private func executeSRB(_ request: VStorPacket, packet: VMBusPacket, memory: GuestMemory) -> [UInt8] {
        let srb: SCSIRequestBlock
        do { srb = try SCSIRequestBlock(request) } catch {
            return StorageCompletion.status(.invalidDeviceState)
        }
        let result: SCSIResult
        if packet.type == .dataUsingGPADirect {
            do {
                let ranges = try packet.gpaDirectRanges(maxPages: maxTransferBytes / 4096 + 1)
                let buffer = try GuestDataBuffer(
                    memory: memory, ranges: ranges, length: srb.dataTransferLength, limit: maxTransferBytes)
                result = execute(srb, buffer: buffer)
            } catch {
                logger.debug("storvsp: bad data buffer: \(error)")
                result = SCSIResult(status: .good, srbStatus: .invalidRequest)
            }
        } else {
            result = execute(srb, buffer: HostDataBuffer(count: 0))
        }
        return StorageCompletion.srb(srb, result: result)
    }

    /// Runs a command on the addressed LUN; the target answers REPORT LUNS and for absent LUNs.
    func execute(_ srb: SCSIRequestBlock, buffer: some SCSIDataBuffer) -> SCSIResult {
        let onTarget = srb.pathID == 0 && srb.targetID == 0
        let opcode = SCSIOpcode(rawValue: srb.cdb.first ?? 0)
        if opcode == .reportLUNs {
            return reportLUNs(cdb: BigEndianBytes(srb.cdb), luns: onTarget ? disks.keys.sorted() : [], buffer: buffer)
        }
        guard onTarget, let disk = lunTable.withLock({ $0[srb.lun] }) else {
            // Linux scans every path and target; an absent unit answers INQUIRY with peripheral
            // qualifier 3 (no device here) and everything else with SRB_STATUS_INVALID_LUN.
            guard opcode == .inquiry else { return .invalidLUN }
            var data = [UInt8](repeating: 0, count: 36)
            data[0] = 0x7F
            data[2] = 0x06
            data[3] = 0x12
            data[4] = 31
            let cdb = BigEndianBytes(srb.cdb)
            let count = min(data.count, Int(cdb.u16(3)), buffer.count)
            guard count > 0 else { return .good() }
            do { try buffer.write(Array(data.prefix(count)), at: 0) } catch { return .checkCondition(.internalTargetFailure) }
            return .good(transferred: count)
        }
        return disk.execute(cdb: srb.cdb, buffer: buffer)
    }

    /// REPORT LUNS (SPC-4 §6.33): list length, reserved, then 8-byte single-level LUNs.
    private func reportLUNs(cdb: BigEndianBytes, luns: [UInt8], buffer: some SCSIDataBuffer) -> SCSIResult {
        var w = BigEndianWriter(size: 8 + 8 * luns.count)
        w.put(UInt32(8 * luns.count), at: 0)
        for (index, lun) in luns.enumerated() { w.put(UInt16(lun), at: 8 + 8 * index) }
        let count = min(w.bytes.count, Int(cdb.u32(6)), buffer.count)
        guard count > 0 else { return .good() }
        do { try buffer.write(Array(w.bytes.prefix(count)), at: 0) } catch { return .checkCondition(.internalTargetFailure) }
        return .good(transferred: count)
    }

    // MARK: completions

    private func complete(transactionID: UInt64, payload: [UInt8], channel: ChannelEndpoint) {
        let queued = state.withLock { state -> Bool in
            guard !state.pending.isEmpty else { return false }
            // Keep completion order: behind the ones already waiting.
            if state.pending.count < Self.maxPendingCompletions {
                state.pending.append((transactionID, payload))
            } else {
                state.dropped += 1
            }
            return true
        }
        if queued {
            flushPending(channel)
            return
        }
        do { try channel.sendCompletion(transactionID: transactionID, payload: payload) } catch {
            switch error {
            case .ringFull:
                state.withLock { $0.pending.append((transactionID, payload)) }
            case .closed, .packetTooLarge:
                logger.debug("storvsp: completion not sent: \(error)")
            }
        }
    }

    /// Sends waiting completions in order until the ring is full again.
    private func flushPending(_ channel: ChannelEndpoint) {
        while let next = state.withLock({ $0.pending.first }) {
            do { try channel.sendCompletion(transactionID: next.transactionID, payload: next.payload) } catch {
                if error == .ringFull { return }
                state.withLock { $0.pending.removeAll() }
                return
            }
            state.withLock { _ = $0.pending.removeFirst() }
        }
    }
}

/// Why a LUN change was refused.
public enum StorageHotplugError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The LUN already holds a disk.
    case lunInUse(UInt8)
    public var description: String {
        switch self {
        case .lunInUse(let lun): "LUN \(lun) already holds a disk"
        }
    }
}
