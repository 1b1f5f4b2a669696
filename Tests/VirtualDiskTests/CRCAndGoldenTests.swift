import Testing

@testable import VirtualDisk

/// Golden bytes for every on-disk structure, with the field each byte group encodes.
@Suite struct GoldenBytesTests {
    @Test func crc32cKnownVectors() {
        // RFC 3720 B.4 check value and iSCSI test vectors.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    }

    @Test func guidMixedEndian() throws {
        let guid = try #require(GUID("2DC27766-F623-4200-9D64-115E9BFD4A08"))
        #expect(guid.bytes == [0x66, 0x77, 0xC2, 0x2D, 0x23, 0xF6, 0x00, 0x42, 0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08])
        #expect(guid.description == "2DC27766-F623-4200-9D64-115E9BFD4A08")
        #expect(GUID("not-a-guid") == nil)
    }

    @Test func fileIdentifier() throws {
        let bytes = VHDXFileIdentifier(creator: "Ab").encoded()
        #expect(Array(bytes[0..<8]) == Array("vhdxfile".utf8))  // Signature
        #expect(Array(bytes[8..<14]) == [0x41, 0x00, 0x62, 0x00, 0x00, 0x00])  // Creator UTF-16LE, NUL
        #expect(try VHDXFileIdentifier(parsing: bytes).creator == "Ab")
    }

    @Test func header() throws {
        let guid = try #require(GUID("00112233-4455-6677-8899-AABBCCDDEEFF"))
        let header = VHDXHeader(sequenceNumber: 0x0102, fileWriteGuid: guid, dataWriteGuid: .zero, logGuid: guid, logLength: 1 << 20, logOffset: 1 << 20)
        let bytes = header.encoded()
        #expect(bytes.count == 4096)
        #expect(Array(bytes[0..<4]) == [0x68, 0x65, 0x61, 0x64])  // "head"
        #expect(Array(bytes[8..<16]) == [0x02, 0x01, 0, 0, 0, 0, 0, 0])  // SequenceNumber
        #expect(Array(bytes[16..<20]) == [0x33, 0x22, 0x11, 0x00])  // FileWriteGuid Data1 LE
        #expect(Array(bytes[64..<68]) == [0x00, 0x00, 0x01, 0x00])  // LogVersion 0, Version 1
        #expect(Array(bytes[68..<72]) == [0x00, 0x00, 0x10, 0x00])  // LogLength 1 MiB
        #expect(Array(bytes[72..<80]) == [0x00, 0x00, 0x10, 0x00, 0, 0, 0, 0])  // LogOffset 1 MiB
        let crc = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        var zeroed = bytes
        zeroed.replaceSubrange(4..<8, with: [0, 0, 0, 0])
        #expect(crc == CRC32C.checksum(zeroed))  // Checksum over 4 KiB with field zeroed
        #expect(try VHDXHeader(parsing: bytes) == header)
        var corrupt = bytes
        corrupt[100] ^= 1
        #expect(throws: VirtualDiskError.self) { try VHDXHeader(parsing: corrupt) }
    }

    @Test func regionTable() throws {
        let table = VHDXRegionTable(entries: [.init(guid: VHDXGUIDs.batRegion, fileOffset: 2 << 20, length: 1 << 20, required: true)])
        let bytes = table.encoded()
        #expect(bytes.count == 65536)
        #expect(Array(bytes[0..<4]) == Array("regi".utf8))
        #expect(Array(bytes[8..<12]) == [1, 0, 0, 0])  // EntryCount
        #expect(Array(bytes[16..<32]) == VHDXGUIDs.batRegion.bytes)  // Guid
        #expect(Array(bytes[32..<40]) == [0, 0, 0x20, 0, 0, 0, 0, 0])  // FileOffset 2 MiB
        #expect(Array(bytes[40..<44]) == [0, 0, 0x10, 0])  // Length 1 MiB
        #expect(Array(bytes[44..<48]) == [1, 0, 0, 0])  // Required
        #expect(try VHDXRegionTable(parsing: bytes) == table)
    }

    @Test func metadataTableAndItems() throws {
        let table = VHDXMetadataTable(entries: [
            .init(itemId: VHDXGUIDs.fileParameters, offset: 0x10000, length: 8, isUser: false, isVirtualDisk: false, isRequired: true)
        ])
        let bytes = table.encoded()
        #expect(Array(bytes[0..<8]) == Array("metadata".utf8))
        #expect(Array(bytes[10..<12]) == [1, 0])  // EntryCount
        #expect(Array(bytes[32..<48]) == VHDXGUIDs.fileParameters.bytes)  // ItemId
        #expect(Array(bytes[48..<56]) == [0, 0, 1, 0, 8, 0, 0, 0])  // Offset 64 KiB, Length 8
        #expect(Array(bytes[56..<60]) == [4, 0, 0, 0])  // IsRequired
        #expect(try VHDXMetadataTable(parsing: bytes) == table)

        let parameters = VHDXFileParameters(blockSize: 1 << 25, leaveBlocksAllocated: true, hasParent: false)
        #expect(parameters.encoded() == [0, 0, 0, 2, 1, 0, 0, 0])  // BlockSize 32 MiB, LeaveBlockAllocated
        #expect(try VHDXFileParameters(parsing: parameters.encoded()) == parameters)
        #expect(throws: VirtualDiskError.self) { try VHDXFileParameters(parsing: [0, 0, 0x30, 0, 0, 0, 0, 0]) }
        #expect(VHDXScalarItems.encode(UInt64(1 << 30)) == [0, 0, 0, 0x40, 0, 0, 0, 0])  // Virtual disk size
        #expect(throws: VirtualDiskError.self) { try VHDXScalarItems.sectorSize([0, 4, 0, 0], what: "logical sector size") }
    }

    @Test func parentLocator() throws {
        let locator = VHDXParentLocator(entries: [("ab", "c")])
        let bytes = locator.encoded()
        #expect(Array(bytes[0..<16]) == VHDXGUIDs.vhdxParentLocatorType.bytes)  // LocatorType
        #expect(Array(bytes[18..<20]) == [1, 0])  // KeyValueCount
        #expect(Array(bytes[20..<32]) == [32, 0, 0, 0, 36, 0, 0, 0, 4, 0, 2, 0])  // offsets and lengths
        #expect(Array(bytes[32..<38]) == [0x61, 0, 0x62, 0, 0x63, 0])  // "ab", "c" UTF-16LE
        #expect(try VHDXParentLocator(parsing: bytes) == locator)
    }

    @Test func batEntry() {
        let entry = VHDXBATEntry(state: .fullyPresent, fileOffsetMB: 4)
        #expect(entry.rawValue == 0x0000_0000_0040_0006)  // state 6, offset 4 MiB in bits 20+
        #expect(VHDXBATEntry(rawValue: 0x0000_0000_0030_0007).state == .partiallyPresent)
        #expect(VHDXBATEntry(rawValue: 0x0000_0000_0030_0007).fileOffset == 3 << 20)
    }

    @Test func logEntry() throws {
        var sector = [UInt8](repeating: 0xAB, count: 4096)
        sector[0] = 1
        sector[4095] = 2
        let entry = VHDXLogEntry(
            sequenceNumber: 0x1_0000_0002, tail: 0, logGuid: VHDXGUIDs.batRegion, flushedFileOffset: 5 << 20, lastFileOffset: 6 << 20,
            descriptors: [.data(fileOffset: 2 << 20, sector: sector), .zero(fileOffset: 3 << 20, length: 8192)])
        let bytes = entry.encoded()
        #expect(bytes.count == 8192)
        #expect(Array(bytes[0..<4]) == Array("loge".utf8))
        #expect(Array(bytes[8..<12]) == [0, 0x20, 0, 0])  // EntryLength 8 KiB
        #expect(Array(bytes[16..<24]) == [2, 0, 0, 0, 1, 0, 0, 0])  // SequenceNumber
        #expect(Array(bytes[24..<28]) == [2, 0, 0, 0])  // DescriptorCount
        #expect(Array(bytes[64..<68]) == Array("desc".utf8))  // data descriptor
        #expect(Array(bytes[68..<72]) == [0xAB, 0xAB, 0xAB, 2])  // TrailingBytes: last 4 of the sector
        #expect(Array(bytes[72..<80]) == [1, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB])  // LeadingBytes
        #expect(Array(bytes[96..<100]) == Array("zero".utf8))  // zero descriptor
        #expect(Array(bytes[104..<112]) == [0, 0x20, 0, 0, 0, 0, 0, 0])  // ZeroLength
        #expect(Array(bytes[4096..<4100]) == Array("data".utf8))  // data sector
        #expect(Array(bytes[4100..<4104]) == [1, 0, 0, 0])  // SequenceHigh
        #expect(Array(bytes[8188..<8192]) == [2, 0, 0, 0])  // SequenceLow
        #expect(try VHDXLogEntry(parsing: bytes) == entry)
        var corrupt = bytes
        corrupt[5000] ^= 0xFF
        #expect(throws: VirtualDiskError.self) { try VHDXLogEntry(parsing: corrupt) }
    }

    @Test func geometry() {
        let geometry = VHDXGeometry(blockSize: 1 << 20, logicalSectorSize: 512, virtualSize: 10 << 30, hasParent: false)
        #expect(geometry.chunkRatio == 4096)
        #expect(geometry.payloadBlocks == 10240)
        #expect(geometry.totalBATEntries == 10240 + 2)
        #expect(geometry.payloadEntryIndex(block: 4096) == 4097)
        #expect(geometry.bitmapEntryIndex(chunk: 0) == 4096)
        let differencing = VHDXGeometry(blockSize: 1 << 21, logicalSectorSize: 4096, virtualSize: 1 << 30, hasParent: true)
        #expect(differencing.chunkRatio == 16384)
        #expect(differencing.totalBATEntries == 16385)
    }

    @Test func sizeParsing() throws {
        #expect(try VirtualDisks.parseSize("10G") == 10 << 30)
        #expect(try VirtualDisks.parseSize("512") == 512)
        #expect(try VirtualDisks.parseSize("64KiB") == 64 << 10)
        #expect(try VirtualDisks.parseSize("1.5M") == 3 << 19)
        #expect(throws: VirtualDiskError.self) { try VirtualDisks.parseSize("ten") }
        #expect(throws: VirtualDiskError.self) { try VirtualDisks.parseSize("99999999999T") }
    }
}
