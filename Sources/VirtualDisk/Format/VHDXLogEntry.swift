/// MS-VHDX §2.3 Log: a circular buffer of entries, each a whole number of 4 KiB sectors.
///
/// ```
/// entry: | header + descriptors (rounded up to 4 KiB) | data sector | data sector | ...
/// ```
/// Entry header (§2.3.1.1, 64 bytes): Signature `loge` (0x6567_6F6C) u32 @0, Checksum u32 @4
/// (CRC-32C over the whole entry with this field zero), EntryLength u32 @8, Tail u32 @12
/// (log offset of the oldest entry still needed), SequenceNumber u64 @16,
/// DescriptorCount u32 @24, Reserved u32 @28, LogGuid @32, FlushedFileOffset u64 @48,
/// LastFileOffset u64 @56.
///
/// Descriptors (§2.3.1.2–3, 32 bytes each from offset 64):
/// zero: Signature `zero` u32 @0, Reserved u32 @4, ZeroLength u64 @8, FileOffset u64 @16,
/// SequenceNumber u64 @24.
/// data: Signature `desc` u32 @0, TrailingBytes u32 @4 (the sector's last 4 bytes),
/// LeadingBytes u64 @8 (its first 8 bytes), FileOffset u64 @16, SequenceNumber u64 @24.
///
/// Data sector (§2.3.1.4, 4 KiB): Signature `data` u32 @0, SequenceHigh u32 @4,
/// Data 4084 bytes @8, SequenceLow u32 @4092.
struct VHDXLogEntry: Equatable {
    static let signature: UInt32 = 0x6567_6F6C
    static let zeroSignature: UInt32 = 0x6F72_657A
    static let descSignature: UInt32 = 0x6373_6564
    static let dataSignature: UInt32 = 0x6174_6164
    static let headerSize = 64
    static let descriptorSize = 32
    static let sector = VHDXLayout.logSectorSize

    enum Descriptor: Equatable {
        /// Write `length` zero bytes at `fileOffset` (both 4 KiB multiples).
        case zero(fileOffset: UInt64, length: UInt64)
        /// Write one full 4 KiB sector at `fileOffset`.
        case data(fileOffset: UInt64, sector: [UInt8])

        var fileOffset: UInt64 {
            switch self {
            case .zero(let offset, _), .data(let offset, _): offset
            }
        }
    }

    var sequenceNumber: UInt64
    var tail: UInt32
    var logGuid: GUID
    var flushedFileOffset: UInt64
    var lastFileOffset: UInt64
    var descriptors: [Descriptor]

    /// Sectors taken by the header and descriptor table.
    static func descriptorSectors(count: Int) -> Int {
        (headerSize + count * descriptorSize + sector - 1) / sector
    }

    var dataSectorCount: Int {
        descriptors.reduce(0) { count, descriptor in
            if case .data = descriptor { return count + 1 }
            return count
        }
    }

    /// Total encoded length in bytes.
    var entryLength: Int { (Self.descriptorSectors(count: descriptors.count) + dataSectorCount) * Self.sector }

    func encoded() -> [UInt8] {
        let descriptorBytes = Self.descriptorSectors(count: descriptors.count) * Self.sector
        var head = ByteWriter(count: descriptorBytes)
        head.u32(0, Self.signature)
        head.u32(8, UInt32(entryLength))
        head.u32(12, tail)
        head.u64(16, sequenceNumber)
        head.u32(24, UInt32(descriptors.count))
        head.guid(32, logGuid)
        head.u64(48, flushedFileOffset)
        head.u64(56, lastFileOffset)
        var dataSectors: [UInt8] = []
        for (index, descriptor) in descriptors.enumerated() {
            let base = Self.headerSize + index * Self.descriptorSize
            switch descriptor {
            case .zero(let fileOffset, let length):
                head.u32(base, Self.zeroSignature)
                head.u64(base + 8, length)
                head.u64(base + 16, fileOffset)
            case .data(let fileOffset, let sector):
                let reader = ByteReader(sector, what: "log data")
                head.u32(base, Self.descSignature)
                head.u32(base + 4, (try? reader.u32(4092)) ?? 0)
                head.u64(base + 8, (try? reader.u64(0)) ?? 0)
                head.u64(base + 16, fileOffset)
                var data = ByteWriter(count: Self.sector)
                data.u32(0, Self.dataSignature)
                data.u32(4, UInt32(truncatingIfNeeded: sequenceNumber >> 32))
                data.raw(8, Array(sector[8..<4092]))
                data.u32(4092, UInt32(truncatingIfNeeded: sequenceNumber))
                dataSectors += data.bytes
            }
            head.u64(base + 24, sequenceNumber)
        }
        var bytes = head.bytes + dataSectors
        let crc = CRC32C.checksum(bytes, zeroingFieldAt: 4)
        var patch = ByteWriter(count: 4)
        patch.u32(0, crc)
        bytes.replaceSubrange(4..<8, with: patch.bytes)
        return bytes
    }

    /// Peeks at an entry header: returns (entryLength, sequenceNumber, descriptorCount) when the
    /// first sector looks like an entry; nil otherwise. Cheap pre-check before a full parse.
    static func peek(_ firstSector: [UInt8]) -> (length: Int, sequence: UInt64, guid: GUID)? {
        let reader = ByteReader(firstSector, what: "log entry")
        guard let signature = try? reader.u32(0),
            let length = try? reader.u32(8), let sequence = try? reader.u64(16), let guid = try? reader.guid(32)
        else { return nil }
        guard signature == Self.signature, length > 0, Int(length) % sector == 0 else { return nil }
        return (Int(length), sequence, guid)
    }

    /// Parses and validates a whole entry (checksum, descriptor and data-sector sequence numbers).
    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX log entry")
        guard try reader.u32(0) == Self.signature else { throw VirtualDiskError.corrupt("log entry signature is not 'loge'") }
        let length = Int(try reader.u32(8))
        guard length == bytes.count, length % Self.sector == 0 else { throw VirtualDiskError.corrupt("log entry length \(length) is invalid") }
        guard try reader.u32(4) == CRC32C.checksum(bytes, zeroingFieldAt: 4) else { throw VirtualDiskError.corrupt("log entry checksum mismatch") }
        tail = try reader.u32(12)
        sequenceNumber = try reader.u64(16)
        let count = Int(try reader.u32(24))
        logGuid = try reader.guid(32)
        flushedFileOffset = try reader.u64(48)
        lastFileOffset = try reader.u64(56)
        let descriptorSectors = Self.descriptorSectors(count: count)
        guard count <= length / Self.descriptorSize, descriptorSectors * Self.sector <= length else {
            throw VirtualDiskError.corrupt("log entry has \(count) descriptors, more than its length allows")
        }
        var nextData = descriptorSectors * Self.sector
        var parsed: [Descriptor] = []
        for index in 0..<count {
            let base = Self.headerSize + index * Self.descriptorSize
            let signature = try reader.u32(base)
            let fileOffset = try reader.u64(base + 16)
            guard try reader.u64(base + 24) == sequenceNumber else { throw VirtualDiskError.corrupt("log descriptor \(index) has a stale sequence number") }
            guard fileOffset % UInt64(Self.sector) == 0 else { throw VirtualDiskError.corrupt("log descriptor \(index) file offset is not 4 KiB aligned") }
            if signature == Self.zeroSignature {
                let zeroLength = try reader.u64(base + 8)
                guard zeroLength % UInt64(Self.sector) == 0 else { throw VirtualDiskError.corrupt("log zero descriptor length is not 4 KiB aligned") }
                parsed.append(.zero(fileOffset: fileOffset, length: zeroLength))
            } else if signature == Self.descSignature {
                let data = try reader.slice(nextData, Self.sector)
                let dataReader = ByteReader(data, what: "log data sector")
                guard try dataReader.u32(0) == Self.dataSignature else { throw VirtualDiskError.corrupt("log data sector signature is not 'data'") }
                let sequence = UInt64(try dataReader.u32(4)) << 32 | UInt64(try dataReader.u32(4092))
                guard sequence == sequenceNumber else { throw VirtualDiskError.corrupt("log data sector has a stale sequence number") }
                var sector = ByteWriter(count: Self.sector)
                sector.u64(0, try reader.u64(base + 8))
                sector.raw(8, Array(data[8..<4092]))
                sector.u32(4092, try reader.u32(base + 4))
                parsed.append(.data(fileOffset: fileOffset, sector: sector.bytes))
                nextData += Self.sector
            } else {
                throw VirtualDiskError.corrupt("log descriptor \(index) has an unknown signature")
            }
        }
        guard nextData == length else { throw VirtualDiskError.corrupt("log entry length does not match its data sectors") }
        descriptors = parsed
    }

    init(sequenceNumber: UInt64, tail: UInt32, logGuid: GUID, flushedFileOffset: UInt64, lastFileOffset: UInt64, descriptors: [Descriptor]) {
        self.sequenceNumber = sequenceNumber
        self.tail = tail
        self.logGuid = logGuid
        self.flushedFileOffset = flushedFileOffset
        self.lastFileOffset = lastFileOffset
        self.descriptors = descriptors
    }
}
