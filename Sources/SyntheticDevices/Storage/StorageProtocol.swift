import VMBus

/// The storvsc wire format (protocol doc §9; Linux `drivers/scsi/storvsc_drv.c`). Layout only.
///
/// ```text
/// struct vstor_packet (64 bytes, packed):
///    0 u32 operation        4 u32 flags        8 u32 status
///   12 union {
///        struct vmscsi_request (52 bytes):
///          12 u16 length  14 u8 srb_status  15 u8 scsi_status  16 u8 port_number
///          17 u8 path_id  18 u8 target_id   19 u8 lun          20 u8 cdb_length
///          21 u8 sense_info_length  22 u8 data_in  23 u8 reserved
///          24 u32 data_transfer_length
///          28 u8 cdb[16] | sense_data[0x14]
///          48 u16 reserve  50 u8 queue_tag  51 u8 queue_action
///          52 u32 srb_flags  56 u32 time_out_value  60 u32 queue_sort_ey
///        struct vmstorage_channel_properties:
///          12 u32 reserved  16 u16 max_channel_cnt  18 u16 reserved1  20 u32 flags
///          24 u32 max_transfer_bytes  28 u64 reserved2
///        struct vmstorage_protocol_version:
///          12 u16 major_minor  14 u16 revision
///      }
/// ```
public enum StorageLayout {
    /// `sizeof(struct vstor_packet)`: every host → guest packet carries exactly this much
    /// payload, so with the 16-byte descriptor it meets the guest's 80-byte `max_pkt_size` (R9).
    public static let packetSize = 64
    public static let operation = 0
    public static let flags = 4
    public static let status = 8
    public static let srbLength = 12
    public static let srbStatus = 14
    public static let scsiStatus = 15
    public static let portNumber = 16
    public static let pathID = 17
    public static let targetID = 18
    public static let lun = 19
    public static let cdbLength = 20
    public static let senseInfoLength = 21
    public static let dataIn = 22
    public static let dataTransferLength = 24
    public static let cdb = 28
    public static let cdbCapacity = 16
    public static let senseCapacity = 0x14
    public static let srbFlags = 52
    /// `sizeof(struct vmscsi_request)` with the WIN8 extension.
    public static let srbSize: UInt16 = 52
    public static let maxChannelCount = 16
    public static let propertiesFlags = 20
    public static let maxTransferBytes = 24
    public static let protocolVersion = 12
    public static let protocolRevision = 14
    /// `REQUEST_COMPLETION_FLAG` in `vstor_packet.flags`.
    public static let requestCompletionFlag: UInt32 = 0x1
    /// The interface GUID of the synthetic SCSI controller.
    public static let scsiClassID = GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f") ?? .zero
}

/// `enum vstor_packet_operation`. Open.
public struct VStorOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let completeIO = Self(rawValue: 1)
    public static let removeDevice = Self(rawValue: 2)
    public static let executeSRB = Self(rawValue: 3)
    public static let resetLUN = Self(rawValue: 4)
    public static let resetAdapter = Self(rawValue: 5)
    public static let resetBus = Self(rawValue: 6)
    public static let beginInitialization = Self(rawValue: 7)
    public static let endInitialization = Self(rawValue: 8)
    public static let queryProtocolVersion = Self(rawValue: 9)
    public static let queryProperties = Self(rawValue: 10)
    public static let enumerateBus = Self(rawValue: 11)
    public static let fcHBAData = Self(rawValue: 12)
    public static let createSubChannels = Self(rawValue: 13)
    public var description: String { "vstor operation \(rawValue)" }
}

/// `vstor_packet.status` values the host returns (NTSTATUS). Open.
public struct VStorStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let success = Self(rawValue: 0)
    /// `STATUS_REVISION_MISMATCH`: the protocol version asked for is not supported (OpenVMM).
    public static let revisionMismatch = Self(rawValue: 0xC000_0059)
    /// `STATUS_INVALID_DEVICE_STATE`: an operation out of order (OpenVMM).
    public static let invalidDeviceState = Self(rawValue: 0xC000_0184)
    /// `STATUS_NOT_SUPPORTED`.
    public static let notSupported = Self(rawValue: 0xC000_00BB)
}

/// `vmstorage_protocol_version.major_minor`, `(major << 8) | minor`. Open.
public struct VStorProtocolVersion: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let win8 = Self(rawValue: 0x0501)
    public static let win8_1 = Self(rawValue: 0x0600)
    public static let win10 = Self(rawValue: 0x0602)
    /// The versions this host accepts (what Linux 6.1 tries, newest first).
    public static let supported: [Self] = [.win10, .win8_1, .win8]
    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "\(rawValue >> 8).\(rawValue & 0xFF)" }
}

/// `vm_srb.srb_status`. Open; `autosenseValid` is or-ed in when sense data is returned.
public struct SRBStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let success = Self(rawValue: 0x01)
    public static let aborted = Self(rawValue: 0x02)
    public static let error = Self(rawValue: 0x04)
    public static let invalidRequest = Self(rawValue: 0x06)
    public static let dataOverrun = Self(rawValue: 0x12)
    public static let invalidLUN = Self(rawValue: 0x20)
    /// `SRB_STATUS_AUTOSENSE_VALID`: `sense_data` holds `sense_info_length` valid bytes.
    public static let autosenseValid: UInt8 = 0x80
}

/// `vm_srb.data_in`. Open.
public struct SRBDataDirection: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Host reads from the guest buffer (`WRITE_TYPE`).
    public static let write = Self(rawValue: 0)
    /// Host writes into the guest buffer (`READ_TYPE`).
    public static let read = Self(rawValue: 1)
    public static let unknown = Self(rawValue: 2)
}

/// The fields of a guest `vstor_packet` the host uses, copied out once (no double fetch).
public struct VStorPacket: Sendable, Equatable {
    public var operation: VStorOperation
    public var flags: UInt32
    /// The 52-byte union after the header, zero-extended when the guest sent less.
    public var body: [UInt8]

    /// Decodes a guest packet payload. Shorter payloads (pre-WIN8 `vmscsi_size_delta` senders)
    /// are zero-extended to 64 bytes; anything past 64 bytes is ignored.
    /// - Throws: `WireError.truncated` when even the 12-byte header is missing.
    public static func decode(_ payload: some Collection<UInt8>) throws(WireError) -> VStorPacket {
        var bytes = Array(payload.prefix(StorageLayout.packetSize))
        guard bytes.count >= 12 else { throw .truncated(needed: 12, at: 0, available: bytes.count) }
        bytes += [UInt8](repeating: 0, count: StorageLayout.packetSize - bytes.count)
        let r = WireReader(bytes)
        return VStorPacket(
            operation: VStorOperation(rawValue: try r.load(at: StorageLayout.operation)),
            flags: try r.load(at: StorageLayout.flags),
            body: Array(bytes[12...]))
    }

    /// A field of the union, by its offset in the whole packet.
    func field<T: FixedWidthInteger>(_: T.Type = T.self, at packetOffset: Int) -> T {
        (try? WireReader(body).load(T.self, at: packetOffset - 12)) ?? 0
    }
}

/// The SRB fields of an EXECUTE_SRB request.
public struct SCSIRequestBlock: Sendable, Equatable {
    public var pathID: UInt8
    public var targetID: UInt8
    public var lun: UInt8
    /// The CDB, `cdb_length` bytes (at most 16).
    public var cdb: [UInt8]
    public var dataDirection: SRBDataDirection
    public var dataTransferLength: UInt32

    /// - Throws: `WireError.invalidField` for a CDB length of 0 or over 16.
    public init(_ packet: VStorPacket) throws(WireError) {
        pathID = packet.field(at: StorageLayout.pathID)
        targetID = packet.field(at: StorageLayout.targetID)
        lun = packet.field(at: StorageLayout.lun)
        let cdbLength = Int(packet.field(UInt8.self, at: StorageLayout.cdbLength))
        guard cdbLength >= 1, cdbLength <= StorageLayout.cdbCapacity else {
            throw .invalidField("cdb_length \(cdbLength)")
        }
        let start = StorageLayout.cdb - 12
        cdb = Array(packet.body[start..<(start + cdbLength)])
        dataDirection = SRBDataDirection(rawValue: packet.field(at: StorageLayout.dataIn))
        dataTransferLength = packet.field(at: StorageLayout.dataTransferLength)
    }
}

/// A 64-byte completion under construction. Concrete (non-generic) stores: completions are built
/// once per request, and the generic cross-module `WireWriter.store` cost more than the SCSI work
/// for 4 KiB I/O (storage-bench).
struct CompletionWriter {
    private(set) var bytes = [UInt8](repeating: 0, count: StorageLayout.packetSize)

    mutating func put(_ value: UInt8, at offset: Int) { bytes[offset] = value }
    mutating func put(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }
    mutating func put(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
    mutating func put(bytes data: [UInt8], at offset: Int) {
        for (index, byte) in data.enumerated() where offset + index < bytes.count { bytes[offset + index] = byte }
    }
}

/// Builders for the host's 64-byte completions.
enum StorageCompletion {
    /// A COMPLETE_IO packet with `status` and nothing else (init steps, refusals).
    static func status(_ status: VStorStatus) -> [UInt8] {
        var w = CompletionWriter()
        w.put(VStorOperation.completeIO.rawValue, at: StorageLayout.operation)
        w.put(status.rawValue, at: StorageLayout.status)
        return w.bytes
    }

    /// The QUERY_PROTOCOL_VERSION answer: echoes the version with the status.
    static func protocolVersion(_ version: UInt16, revision: UInt16, status: VStorStatus) -> [UInt8] {
        var w = CompletionWriter()
        w.put(VStorOperation.completeIO.rawValue, at: StorageLayout.operation)
        w.put(status.rawValue, at: StorageLayout.status)
        w.put(version, at: StorageLayout.protocolVersion)
        w.put(revision, at: StorageLayout.protocolRevision)
        return w.bytes
    }

    /// The QUERY_PROPERTIES answer: no sub-channels, `maxTransferBytes` per request.
    static func properties(maxTransferBytes: UInt32) -> [UInt8] {
        var w = CompletionWriter()
        w.put(VStorOperation.completeIO.rawValue, at: StorageLayout.operation)
        w.put(UInt16(0), at: StorageLayout.maxChannelCount)
        w.put(UInt32(0), at: StorageLayout.propertiesFlags)
        w.put(maxTransferBytes, at: StorageLayout.maxTransferBytes)
        return w.bytes
    }

    /// The EXECUTE_SRB answer: the request's addressing echoed, the outcome filled in.
    static func srb(_ request: SCSIRequestBlock, result: SCSIResult) -> [UInt8] {
        var w = CompletionWriter()
        w.put(VStorOperation.completeIO.rawValue, at: StorageLayout.operation)
        w.put(StorageLayout.srbSize, at: StorageLayout.srbLength)
        let sense = Array(result.sense.prefix(StorageLayout.senseCapacity))
        var srbStatus = result.srbStatus.rawValue
        if result.status == .checkCondition, !sense.isEmpty { srbStatus |= SRBStatus.autosenseValid }
        w.put(srbStatus, at: StorageLayout.srbStatus)
        w.put(result.status.rawValue, at: StorageLayout.scsiStatus)
        w.put(request.pathID, at: StorageLayout.pathID)
        w.put(request.targetID, at: StorageLayout.targetID)
        w.put(request.lun, at: StorageLayout.lun)
        w.put(UInt8(request.cdb.count), at: StorageLayout.cdbLength)
        w.put(UInt8(sense.count), at: StorageLayout.senseInfoLength)
        w.put(request.dataDirection.rawValue, at: StorageLayout.dataIn)
        w.put(UInt32(clamping: result.transferred), at: StorageLayout.dataTransferLength)
        w.put(bytes: sense, at: StorageLayout.cdb)
        return w.bytes
    }
}
