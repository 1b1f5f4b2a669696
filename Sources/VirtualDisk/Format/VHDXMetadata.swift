/// MS-VHDX §2.6.1 Metadata Table: the first 64 KiB of the metadata region.
///
/// Header (32 bytes): Signature `metadata` (0x6174_6164_6174_656D) u64 @0, Reserved u16 @8,
/// EntryCount u16 @10 (at most 2047), Reserved2 20 bytes @12.
/// Entry (§2.6.1.2, 32 bytes each from offset 32): ItemId GUID @0, Offset u32 @16 (from the
/// region start, at least 64 KiB), Length u32 @20 (at most 1 MiB), flags u32 @24
/// (IsUser bit 0, IsVirtualDisk bit 1, IsRequired bit 2), Reserved2 u32 @28.
struct VHDXMetadataTable: Equatable {
    static let signature: UInt64 = 0x6174_6164_6174_656D
    static let tableSize = 64 * 1024
    static let maxEntries = 2047
    static let maxItemLength: UInt32 = 1 << 20

    struct Entry: Equatable {
        var itemId: GUID
        var offset: UInt32
        var length: UInt32
        var isUser: Bool
        var isVirtualDisk: Bool
        var isRequired: Bool
    }

    var entries: [Entry]

    init(entries: [Entry]) { self.entries = entries }

    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX metadata table")
        guard try reader.u64(0) == Self.signature else { throw VirtualDiskError.corrupt("VHDX metadata table signature is not 'metadata'") }
        let count = try reader.u16(10)
        guard count <= Self.maxEntries else { throw VirtualDiskError.corrupt("VHDX metadata table claims \(count) entries (at most 2047)") }
        entries = try (0..<Int(count)).map { index in
            let base = 32 + index * 32
            let flags = try reader.u32(base + 24)
            return Entry(
                itemId: try reader.guid(base), offset: try reader.u32(base + 16), length: try reader.u32(base + 20),
                isUser: flags & 1 != 0, isVirtualDisk: flags & 2 != 0, isRequired: flags & 4 != 0)
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: Self.tableSize)
        writer.u64(0, Self.signature)
        writer.u16(10, UInt16(entries.count))
        for (index, entry) in entries.enumerated() {
            let base = 32 + index * 32
            writer.guid(base, entry.itemId)
            writer.u32(base + 16, entry.offset)
            writer.u32(base + 20, entry.length)
            let flags: UInt32 = (entry.isUser ? 1 : 0) | (entry.isVirtualDisk ? 2 : 0) | (entry.isRequired ? 4 : 0)
            writer.u32(base + 24, flags)
        }
        return writer.bytes
    }
}

/// MS-VHDX §2.6.2.1 File Parameters item (8 bytes): BlockSize u32 @0,
/// flags u32 @4 (LeaveBlockAllocated bit 0 = fixed, HasParent bit 1 = differencing).
struct VHDXFileParameters: Equatable {
    var blockSize: UInt32
    var leaveBlocksAllocated: Bool
    var hasParent: Bool

    init(blockSize: UInt32, leaveBlocksAllocated: Bool, hasParent: Bool) {
        self.blockSize = blockSize
        self.leaveBlocksAllocated = leaveBlocksAllocated
        self.hasParent = hasParent
    }

    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX file parameters")
        blockSize = try reader.u32(0)
        let flags = try reader.u32(4)
        leaveBlocksAllocated = flags & 1 != 0
        hasParent = flags & 2 != 0
        guard blockSize >= VHDXLayout.minBlockSize, blockSize <= VHDXLayout.maxBlockSize, blockSize.nonzeroBitCount == 1 else {
            throw VirtualDiskError.corrupt("VHDX block size \(blockSize) is invalid (a power of two from 1 MiB to 256 MiB)")
        }
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: 8)
        writer.u32(0, blockSize)
        writer.u32(4, (leaveBlocksAllocated ? 1 : 0) | (hasParent ? 2 : 0))
        return writer.bytes
    }
}

/// MS-VHDX §2.6.2.2 Virtual Disk Size (u64), §2.6.2.4 Logical Sector Size (u32),
/// §2.6.2.5 Physical Sector Size (u32), §2.6.2.3 Page 83 Data (GUID): small scalar items.
enum VHDXScalarItems {
    static func virtualDiskSize(_ bytes: [UInt8]) throws -> UInt64 {
        try ByteReader(bytes, what: "VHDX virtual disk size").u64(0)
    }
    static func sectorSize(_ bytes: [UInt8], what: String) throws -> UInt32 {
        let size = try ByteReader(bytes, what: what).u32(0)
        guard size == 512 || size == 4096 else { throw VirtualDiskError.corrupt("VHDX \(what) is \(size) (must be 512 or 4096)") }
        return size
    }
    static func page83(_ bytes: [UInt8]) throws -> GUID { try ByteReader(bytes, what: "VHDX page 83 data").guid(0) }
    static func encode(_ value: UInt64) -> [UInt8] {
        var writer = ByteWriter(count: 8)
        writer.u64(0, value)
        return writer.bytes
    }
    static func encode(_ value: UInt32) -> [UInt8] {
        var writer = ByteWriter(count: 4)
        writer.u32(0, value)
        return writer.bytes
    }
}
