/// SCSI values the target uses (SPC-4, SBC-3). Layout and constants only.

/// A SCSI operation code (CDB byte 0). Open.
public struct SCSIOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let testUnitReady = Self(rawValue: 0x00)
    public static let requestSense = Self(rawValue: 0x03)
    public static let read6 = Self(rawValue: 0x08)
    public static let write6 = Self(rawValue: 0x0A)
    public static let inquiry = Self(rawValue: 0x12)
    public static let modeSelect6 = Self(rawValue: 0x15)
    public static let modeSense6 = Self(rawValue: 0x1A)
    public static let startStopUnit = Self(rawValue: 0x1B)
    public static let preventAllowMediumRemoval = Self(rawValue: 0x1E)
    public static let readCapacity10 = Self(rawValue: 0x25)
    public static let read10 = Self(rawValue: 0x28)
    public static let write10 = Self(rawValue: 0x2A)
    public static let verify10 = Self(rawValue: 0x2F)
    public static let synchronizeCache10 = Self(rawValue: 0x35)
    public static let unmap = Self(rawValue: 0x42)
    public static let modeSense10 = Self(rawValue: 0x5A)
    public static let read16 = Self(rawValue: 0x88)
    public static let write16 = Self(rawValue: 0x8A)
    public static let synchronizeCache16 = Self(rawValue: 0x91)
    /// SERVICE ACTION IN(16); service action 0x10 is READ CAPACITY(16).
    public static let serviceActionIn16 = Self(rawValue: 0x9E)
    public static let reportLUNs = Self(rawValue: 0xA0)
    public var description: String { "SCSI opcode 0x" + String(rawValue, radix: 16) }
}

/// SAM status byte. Open.
public struct SCSIStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let good = Self(rawValue: 0x00)
    public static let checkCondition = Self(rawValue: 0x02)
}

/// Sense key (SPC-4 §4.5.6). Open.
public struct SenseKey: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let noSense = Self(rawValue: 0x0)
    public static let mediumError = Self(rawValue: 0x3)
    public static let hardwareError = Self(rawValue: 0x4)
    public static let illegalRequest = Self(rawValue: 0x5)
    public static let dataProtect = Self(rawValue: 0x7)
}

/// Fixed-format sense data (SPC-4 §4.5.3): response code 0x70, 18 bytes.
public struct SenseData: Hashable, Sendable {
    public var key: SenseKey
    public var asc: UInt8
    public var ascq: UInt8

    public init(_ key: SenseKey, asc: UInt8, ascq: UInt8 = 0) {
        self.key = key
        self.asc = asc
        self.ascq = ascq
    }

    /// INVALID COMMAND OPERATION CODE.
    public static let invalidOpcode = SenseData(.illegalRequest, asc: 0x20)
    /// LOGICAL BLOCK ADDRESS OUT OF RANGE.
    public static let lbaOutOfRange = SenseData(.illegalRequest, asc: 0x21)
    /// INVALID FIELD IN CDB.
    public static let invalidFieldInCDB = SenseData(.illegalRequest, asc: 0x24)
    /// INVALID FIELD IN PARAMETER LIST.
    public static let invalidFieldInParameterList = SenseData(.illegalRequest, asc: 0x26)
    /// WRITE PROTECTED.
    public static let writeProtected = SenseData(.dataProtect, asc: 0x27)
    /// UNRECOVERED READ ERROR.
    public static let readError = SenseData(.mediumError, asc: 0x11)
    /// WRITE ERROR.
    public static let writeError = SenseData(.mediumError, asc: 0x0C)
    /// INTERNAL TARGET FAILURE (the guest buffer could not be accessed).
    public static let internalTargetFailure = SenseData(.hardwareError, asc: 0x44)

    /// The 18 bytes: `0x70, 0, key, info[4], additional length 10, csi[4], asc, ascq, fru, sks[3]`.
    public var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: 18)
        b[0] = 0x70
        b[2] = key.rawValue & 0x0F
        b[7] = 10
        b[12] = asc
        b[13] = ascq
        return b
    }
}

/// What a SCSI command came to: status, sense data for CHECK CONDITION, bytes moved, and the
/// SRB status the storage channel reports.
public struct SCSIResult: Hashable, Sendable {
    public var status: SCSIStatus
    public var sense: [UInt8]
    /// Bytes actually moved to or from the guest buffer.
    public var transferred: Int
    public var srbStatus: SRBStatus

    public init(status: SCSIStatus, sense: [UInt8] = [], transferred: Int = 0, srbStatus: SRBStatus) {
        self.status = status
        self.sense = sense
        self.transferred = transferred
        self.srbStatus = srbStatus
    }

    /// GOOD with `transferred` bytes moved.
    public static func good(transferred: Int = 0) -> SCSIResult {
        SCSIResult(status: .good, transferred: transferred, srbStatus: .success)
    }

    /// CHECK CONDITION with fixed-format sense (`SRB_STATUS_ERROR | AUTOSENSE_VALID` on the wire).
    public static func checkCondition(_ sense: SenseData) -> SCSIResult {
        SCSIResult(status: .checkCondition, sense: sense.bytes, srbStatus: .error)
    }

    /// No such logical unit: the channel answers SRB_STATUS_INVALID_LUN (Linux: DID_NO_CONNECT).
    public static let invalidLUN = SCSIResult(status: .good, srbStatus: .invalidLUN)
}

/// Big-endian field access on CDBs and parameter data (SCSI is big-endian), bounds-checked:
/// a missing byte reads as zero, which every caller treats as "field absent".
struct BigEndianBytes {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func u8(_ offset: Int) -> UInt8 { offset >= 0 && offset < bytes.count ? bytes[offset] : 0 }
    func u16(_ offset: Int) -> UInt16 { UInt16(u8(offset)) << 8 | UInt16(u8(offset + 1)) }
    func u32(_ offset: Int) -> UInt32 { UInt32(u16(offset)) << 16 | UInt32(u16(offset + 2)) }
    func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) << 32 | UInt64(u32(offset + 4)) }
}

/// Big-endian stores into a fixed-size response.
struct BigEndianWriter {
    private(set) var bytes: [UInt8]
    init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= bytes.count else { return }
        for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - index))) }
    }

    mutating func put(bytes data: [UInt8], at offset: Int) {
        for (index, byte) in data.enumerated() where offset + index < bytes.count { bytes[offset + index] = byte }
    }
}

/// The guest's data buffer of one command, as the target sees it.
public protocol SCSIDataBuffer {
    /// The buffer's length in bytes.
    var count: Int { get }
    /// Copies `count` bytes out of the buffer at `offset`.
    func read(at offset: Int, count: Int) throws -> [UInt8]
    /// Copies `bytes` into the buffer at `offset`.
    func write(_ bytes: [UInt8], at offset: Int) throws
}

/// A buffer held in host memory (tests, benchmarks, commands without data).
public final class HostDataBuffer: SCSIDataBuffer {
    public var bytes: [UInt8]
    public init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var count: Int { bytes.count }

    public func read(at offset: Int, count: Int) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= bytes.count, bytes.count - offset >= count else {
            throw DataBufferError.outOfBounds
        }
        return Array(bytes[offset..<(offset + count)])
    }

    public func write(_ data: [UInt8], at offset: Int) throws {
        guard offset >= 0, offset <= bytes.count, bytes.count - offset >= data.count else { throw DataBufferError.outOfBounds }
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }
}

/// Why a data buffer access failed.
public enum DataBufferError: Error, Equatable, Sendable {
    /// The access lies outside the buffer.
    case outOfBounds
    /// A page of the buffer is not guest RAM.
    case notGuestRAM(pfn: UInt64)
    /// The guest described more data than the controller accepts.
    case tooLarge(Int)
}
