/// MS-VHDX §2.2.3 Region Table, two identical copies at 192 KiB and 256 KiB, 64 KiB each,
/// CRC-32C over the whole 64 KiB.
///
/// Header (16 bytes): Signature `regi` (0x6967_6572) u32 @0, Checksum u32 @4,
/// EntryCount u32 @8 (at most 2047), Reserved u32 @12.
/// Entry (§2.2.3.2, 32 bytes each from offset 16): Guid @0, FileOffset u64 @16,
/// Length u32 @24, Required (bit 0) u32 @28.
struct VHDXRegionTable: Equatable {
    static let signature: UInt32 = 0x6967_6572
    static let checksumOffset = 4
    static let maxEntries = 2047

    struct Entry: Equatable {
        var guid: GUID
        var fileOffset: UInt64
        var length: UInt32
        var required: Bool
    }

    var entries: [Entry]

    init(entries: [Entry]) { self.entries = entries }

    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX region table")
        guard bytes.count == VHDXLayout.regionTableSize else { throw VirtualDiskError.corrupt("VHDX region table is truncated") }
        guard try reader.u32(0) == Self.signature else { throw VirtualDiskError.corrupt("VHDX region table signature is not 'regi'") }
        let stored = try reader.u32(Self.checksumOffset)
        guard stored == CRC32C.checksum(bytes, zeroingFieldAt: Self.checksumOffset) else {
            throw VirtualDiskError.corrupt("VHDX region table checksum mismatch")
        }
        let count = try reader.u32(8)
        guard count <= Self.maxEntries else { throw VirtualDiskError.corrupt("VHDX region table claims \(count) entries (at most 2047)") }
        entries = try (0..<Int(count)).map { index in
            let base = 16 + index * 32
            return Entry(
                guid: try reader.guid(base), fileOffset: try reader.u64(base + 16), length: try reader.u32(base + 24),
                required: try reader.u32(base + 28) & 1 != 0)
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: VHDXLayout.regionTableSize)
        writer.u32(0, Self.signature)
        writer.u32(8, UInt32(entries.count))
        for (index, entry) in entries.enumerated() {
            let base = 16 + index * 32
            writer.guid(base, entry.guid)
            writer.u64(base + 16, entry.fileOffset)
            writer.u32(base + 24, entry.length)
            writer.u32(base + 28, entry.required ? 1 : 0)
        }
        writer.u32(Self.checksumOffset, CRC32C.checksum(writer.bytes, zeroingFieldAt: Self.checksumOffset))
        return writer.bytes
    }
}
