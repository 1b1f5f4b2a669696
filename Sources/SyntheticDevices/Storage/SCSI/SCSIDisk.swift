import Synchronization
import VirtualDisk

/// Counters of one logical unit, for status reports.
public struct SCSIDiskStatistics: Sendable, Hashable {
    public var reads: UInt64 = 0
    public var writes: UInt64 = 0
    public var bytesRead: UInt64 = 0
    public var bytesWritten: UInt64 = 0
    public var flushes: UInt64 = 0
    public var errors: UInt64 = 0
    public init() {}
}

/// A direct-access block device (SBC-3) backed by a `VirtualDisk`: the logical unit behind one
/// LUN of the synthetic SCSI controller.
///
/// Commands Linux 6.1 sends while probing and using a disk are implemented (see
/// docs/storage.md); anything else ends in CHECK CONDITION, ILLEGAL REQUEST, INVALID COMMAND
/// OPERATION CODE. All CDB fields come from the guest and are checked before use.
///
/// ## Concurrency model
/// `execute` may run on any thread; the disk is `Sendable` and serialises its own metadata,
/// the counters live in a `Mutex`.
public final class SCSIDisk: Sendable {
    /// The backend.
    public let disk: any VirtualDisk
    /// The path shown in status reports.
    public let path: String
    /// Unit serial number (VPD page 0x80), ASCII.
    public let serialNumber: String
    /// NAA-6 identifier (VPD page 0x83), 16 bytes.
    public let naaIdentifier: [UInt8]
    /// The most bytes one command may move (the controller's `max_transfer_bytes`).
    public let maxTransferBytes: Int
    private let counters = Mutex(SCSIDiskStatistics())

    /// - Parameters:
    ///   - identity: 16 bytes naming this disk (for example the VHDX virtual disk id, or a
    ///     hash of the path); it becomes the serial number and the NAA identifier.
    public init(disk: any VirtualDisk, path: String, identity: [UInt8], maxTransferBytes: Int = 512 * 1024) {
        self.disk = disk
        self.path = path
        self.maxTransferBytes = maxTransferBytes
        var id = Array(identity.prefix(16))
        id += [UInt8](repeating: 0, count: 16 - id.count)
        serialNumber = id.prefix(10).map { byte in
            let digits = Array("0123456789ABCDEF")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
        }.joined()
        // NAA 6 (IEEE registered extended): 0x6 nibble, a 24-bit OUI (0x0003FF, Microsoft),
        // then 100 bits of vendor-specific identifier from the identity.
        var naa: [UInt8] = [0x60, 0x00, 0x3F, 0xF0]
        naa[3] |= id[0] & 0x0F
        naa += id[1..<13]
        naaIdentifier = naa
    }

    /// The counters so far.
    public var statistics: SCSIDiskStatistics { counters.withLock { $0 } }

    /// Logical block size in bytes (512 or 4096).
    var blockSize: UInt64 { UInt64(disk.logicalSectorSize) }
    /// Number of logical blocks.
    var blockCount: UInt64 { disk.virtualSize / blockSize }

    /// Executes one command.
    /// - Parameters:
    ///   - cdb: the command descriptor block (1 to 16 bytes).
    ///   - buffer: the guest's data buffer; its `count` bounds every transfer.
    public func execute(cdb: [UInt8], buffer: some SCSIDataBuffer) -> SCSIResult {
        let result = dispatch(BigEndianBytes(cdb), opcode: SCSIOpcode(rawValue: cdb.first ?? 0), buffer: buffer)
        if result.status != .good || result.srbStatus != .success { counters.withLock { $0.errors += 1 } }
        return result
    }

    private func dispatch(_ cdb: BigEndianBytes, opcode: SCSIOpcode, buffer: some SCSIDataBuffer) -> SCSIResult {
        switch opcode {
        case .testUnitReady, .startStopUnit, .preventAllowMediumRemoval, .verify10:
            return .good()
        case .requestSense:
            return respond(SenseData(.noSense, asc: 0).bytes, allocationLength: Int(cdb.u8(4)), buffer: buffer)
        case .inquiry:
            return inquiry(cdb, buffer: buffer)
        case .reportLUNs:
            // Answered by the controller, which knows every LUN.
            return .checkCondition(.invalidOpcode)
        case .readCapacity10:
            var w = BigEndianWriter(size: 8)
            w.put(UInt32(clamping: blockCount == 0 ? 0 : blockCount - 1), at: 0)
            w.put(UInt32(blockSize), at: 4)
            return respond(w.bytes, allocationLength: 8, buffer: buffer)
        case .serviceActionIn16 where cdb.u8(1) & 0x1F == 0x10:
            return respond(readCapacity16(), allocationLength: Int(cdb.u32(10)), buffer: buffer)
        case .modeSense6:
            return modeSense(cdb, tenByte: false, buffer: buffer)
        case .modeSense10:
            return modeSense(cdb, tenByte: true, buffer: buffer)
        case .read6, .write6:
            let lba = UInt64(cdb.u32(0) & 0x1F_FFFF)
            let count = cdb.u8(4) == 0 ? 256 : UInt64(cdb.u8(4))
            return transfer(write: opcode == .write6, lba: lba, blocks: count, fua: false, buffer: buffer)
        case .read10, .write10:
            return transfer(
                write: opcode == .write10, lba: UInt64(cdb.u32(2)), blocks: UInt64(cdb.u16(7)), fua: cdb.u8(1) & 0x08 != 0,
                buffer: buffer)
        case .read16, .write16:
            return transfer(
                write: opcode == .write16, lba: cdb.u64(2), blocks: UInt64(cdb.u32(10)), fua: cdb.u8(1) & 0x08 != 0,
                buffer: buffer)
        case .synchronizeCache10, .synchronizeCache16:
            return flush()
        case .unmap:
            return unmap(cdb, buffer: buffer)
        default:
            return .checkCondition(.invalidOpcode)
        }
    }

    // MARK: data

    private func transfer(write: Bool, lba: UInt64, blocks: UInt64, fua: Bool, buffer: some SCSIDataBuffer) -> SCSIResult {
        if write && disk.isReadOnly { return .checkCondition(.writeProtected) }
        let (end, overflow) = lba.addingReportingOverflow(blocks)
        guard !overflow, end <= blockCount else { return .checkCondition(.lbaOutOfRange) }
        // `blocks` is at most 2^32, `blockSize` at most 4096: no overflow in 64 bits.
        let length = blocks * blockSize
        guard length <= UInt64(buffer.count), length <= UInt64(maxTransferBytes) else {
            return .checkCondition(.invalidFieldInCDB)
        }
        let count = Int(length)
        let offset = lba * blockSize
        if write {
            let data: [UInt8]
            do { data = try buffer.read(at: 0, count: count) } catch { return .checkCondition(.internalTargetFailure) }
            do {
                if count > 0 { try disk.write(at: offset, data) }
                if fua { try disk.flush() }
            } catch {
                return .checkCondition(.writeError)
            }
            counters.withLock {
                $0.writes += 1
                $0.bytesWritten += length
            }
        } else {
            let data: [UInt8]
            do { data = count > 0 ? try disk.read(at: offset, count: count) : [] } catch {
                return .checkCondition(.readError)
            }
            do { try buffer.write(data, at: 0) } catch { return .checkCondition(.internalTargetFailure) }
            counters.withLock {
                $0.reads += 1
                $0.bytesRead += length
            }
        }
        return .good(transferred: count)
    }

    private func flush() -> SCSIResult {
        guard !disk.isReadOnly else { return .good() }
        do { try disk.flush() } catch { return .checkCondition(.writeError) }
        counters.withLock { $0.flushes += 1 }
        return .good()
    }

    /// UNMAP (SBC-3 §5.28): an 8-byte header, then 16-byte descriptors `{u64 lba; u32 count; u32 reserved}`.
    private func unmap(_ cdb: BigEndianBytes, buffer: some SCSIDataBuffer) -> SCSIResult {
        if disk.isReadOnly { return .checkCondition(.writeProtected) }
        let listLength = min(Int(cdb.u16(7)), buffer.count)
        guard listLength >= 8 else { return .good() }
        let list: BigEndianBytes
        do { list = BigEndianBytes(try buffer.read(at: 0, count: listLength)) } catch {
            return .checkCondition(.internalTargetFailure)
        }
        let descriptorBytes = min(Int(list.u16(2)), listLength - 8)
        var ranges: [(UInt64, UInt64)] = []
        for index in 0..<(descriptorBytes / 16) {
            let lba = list.u64(8 + 16 * index)
            let count = UInt64(list.u32(16 + 16 * index))
            let (end, overflow) = lba.addingReportingOverflow(count)
            guard !overflow, end <= blockCount else { return .checkCondition(.lbaOutOfRange) }
            if count > 0 { ranges.append((lba, count)) }
        }
        for (lba, count) in ranges {
            // Advisory: a backend that cannot discard leaves the data, which UNMAP allows.
            try? disk.discard(at: lba * blockSize, length: count * blockSize)
        }
        return .good()
    }

    // MARK: responses

    /// Copies a response into the guest buffer, cut to the allocation length and the buffer.
    func respond(_ data: [UInt8], allocationLength: Int, buffer: some SCSIDataBuffer) -> SCSIResult {
        let count = min(data.count, allocationLength, buffer.count)
        guard count > 0 else { return .good() }
        do { try buffer.write(Array(data.prefix(count)), at: 0) } catch { return .checkCondition(.internalTargetFailure) }
        return .good(transferred: count)
    }

    /// Whether UNMAP is offered (writable disks only).
    var supportsUnmap: Bool { !disk.isReadOnly }

    private func readCapacity16() -> [UInt8] {
        var w = BigEndianWriter(size: 32)
        w.put(blockCount == 0 ? 0 : blockCount - 1, at: 0)
        w.put(UInt32(blockSize), at: 8)
        let ratio = max(1, disk.physicalSectorSize / disk.logicalSectorSize)
        w.put(UInt8(ratio.trailingZeroBitCount), at: 13)
        // LBPME: the disk is thin-provisioned and takes UNMAP.
        if supportsUnmap { w.put(UInt8(0x80), at: 14) }
        return w.bytes
    }
}
