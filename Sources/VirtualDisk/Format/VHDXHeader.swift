/// MS-VHDX §2.2.2 Header, two copies at 64 KiB and 128 KiB, each 4 KiB with a CRC-32C over
/// the whole 4 KiB (checksum field zeroed). The valid copy with the highest sequence number
/// is current.
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// | 0 | 4 | Signature `head` (0x6461_6568) |
/// | 4 | 4 | Checksum |
/// | 8 | 8 | SequenceNumber |
/// | 16 | 16 | FileWriteGuid |
/// | 32 | 16 | DataWriteGuid |
/// | 48 | 16 | LogGuid (zero: no log to replay) |
/// | 64 | 2 | LogVersion (0) |
/// | 66 | 2 | Version (1) |
/// | 68 | 4 | LogLength (multiple of 1 MiB) |
/// | 72 | 8 | LogOffset (multiple of 1 MiB) |
/// | 80 | 4016 | Reserved |
struct VHDXHeader: Equatable {
    static let signature: UInt32 = 0x6461_6568
    static let checksumOffset = 4

    var sequenceNumber: UInt64
    var fileWriteGuid: GUID
    var dataWriteGuid: GUID
    var logGuid: GUID
    var logVersion: UInt16 = 0
    var version: UInt16 = 1
    var logLength: UInt32
    var logOffset: UInt64

    init(sequenceNumber: UInt64, fileWriteGuid: GUID, dataWriteGuid: GUID, logGuid: GUID, logLength: UInt32, logOffset: UInt64) {
        self.sequenceNumber = sequenceNumber
        self.fileWriteGuid = fileWriteGuid
        self.dataWriteGuid = dataWriteGuid
        self.logGuid = logGuid
        self.logLength = logLength
        self.logOffset = logOffset
    }

    /// Parses and validates one header copy (signature, checksum, versions, log placement).
    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX header")
        guard bytes.count == VHDXLayout.headerSize else {
            throw VirtualDiskError.corrupt("VHDX header is \(bytes.count) bytes, expected 4096")
        }
        guard try reader.u32(0) == Self.signature else { throw VirtualDiskError.corrupt("VHDX header signature is not 'head'") }
        let stored = try reader.u32(Self.checksumOffset)
        let computed = CRC32C.checksum(bytes, zeroingFieldAt: Self.checksumOffset)
        guard stored == computed else {
            throw VirtualDiskError.corrupt("VHDX header checksum mismatch (stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16)))")
        }
        sequenceNumber = try reader.u64(8)
        fileWriteGuid = try reader.guid(16)
        dataWriteGuid = try reader.guid(32)
        logGuid = try reader.guid(48)
        logVersion = try reader.u16(64)
        version = try reader.u16(66)
        logLength = try reader.u32(68)
        logOffset = try reader.u64(72)
        guard version == 1 else { throw VirtualDiskError(.unsupported, "VHDX header version \(version) is not supported (only 1)") }
        guard logVersion == 0 else { throw VirtualDiskError(.unsupported, "VHDX log version \(logVersion) is not supported (only 0)") }
        guard UInt64(logLength) % VHDXLayout.mib == 0, logOffset % VHDXLayout.mib == 0 else {
            throw VirtualDiskError.corrupt("VHDX log offset \(logOffset) or length \(logLength) is not a multiple of 1 MiB")
        }
        guard logLength == 0 || logOffset >= VHDXLayout.headerSectionSize else {
            throw VirtualDiskError.corrupt("VHDX log at offset \(logOffset) overlaps the header section")
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: VHDXLayout.headerSize)
        writer.u32(0, Self.signature)
        writer.u64(8, sequenceNumber)
        writer.guid(16, fileWriteGuid)
        writer.guid(32, dataWriteGuid)
        writer.guid(48, logGuid)
        writer.u16(64, logVersion)
        writer.u16(66, version)
        writer.u32(68, logLength)
        writer.u64(72, logOffset)
        writer.u32(Self.checksumOffset, CRC32C.checksum(writer.bytes, zeroingFieldAt: Self.checksumOffset))
        return writer.bytes
    }
}
