import Foundation
import Testing

@testable import VirtualDisk
import TestSupport

/// Truncated, corrupt and hostile files are refused with an error naming the problem.
@Suite struct HostileInputTests {
    /// A clean 4 MiB dynamic image with two allocated blocks.
    static func sampleImage() throws -> [UInt8] {
        let file = try makeMemoryVHDX(size: 4 << 20)
        let disk = try VHDXDisk(file: file, readOnly: false)
        try disk.write(at: 0, randomBytes(8192, seed: 1))
        try disk.write(at: 2 << 20, randomBytes(4096, seed: 2))
        try disk.close()
        return file.bytes
    }

    // Layout of images made by VHDXDisk.format: log @1M, BAT @2M, metadata @3M, data @4M.
    static let batOffset = 2 << 20
    static let metadataOffset = 3 << 20

    static func open(_ bytes: [UInt8]) throws -> VHDXDisk {
        try VHDXDisk(file: FaultFile(bytes: bytes, readOnly: true), readOnly: true)
    }

    static func put64(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64) {
        for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    static func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
    }

    /// Recomputes the checksums of both region tables (to reach the checks behind them).
    static func fixRegionCRCs(_ bytes: inout [UInt8]) {
        for offset in VHDXLayout.regionTableOffsets.map(Int.init) {
            let table = Array(bytes[offset..<offset + 65536])
            put32(&bytes, offset + 4, CRC32C.checksum(table, zeroingFieldAt: 4))
        }
    }

    static func fixHeaderCRCs(_ bytes: inout [UInt8]) {
        for offset in VHDXLayout.headerOffsets.map(Int.init) {
            let header = Array(bytes[offset..<offset + 4096])
            put32(&bytes, offset + 4, CRC32C.checksum(header, zeroingFieldAt: 4))
        }
    }

    func expectRefused(_ bytes: [UInt8], mentioning words: String..., sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Self.open(bytes)
            Issue.record("hostile image was accepted", sourceLocation: sourceLocation)
        } catch let error as VirtualDiskError {
            for word in words {
                #expect(error.description.lowercased().contains(word.lowercased()), "\(error)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("unexpected error type \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func sampleOpens() throws {
        let disk = try Self.open(try Self.sampleImage())
        #expect(try disk.read(at: 0, count: 8192) == randomBytes(8192, seed: 1))
    }

    @Test func truncatedFiles() throws {
        let image = try Self.sampleImage()
        for length in [0, 100, 70_000, 200_000, 1 << 20, (2 << 20) + 5, (4 << 20) + 100] {
            expectRefused(Array(image.prefix(length)))
        }
    }

    @Test func badSignatureAndChecksums() throws {
        let image = try Self.sampleImage()
        var noSignature = image
        noSignature[0] = 0x58
        expectRefused(noSignature, mentioning: "vhdxfile")
        var bothHeaders = image
        bothHeaders[(64 << 10) + 100] ^= 1
        bothHeaders[(128 << 10) + 100] ^= 1
        expectRefused(bothHeaders, mentioning: "checksum")
        var regions = image
        regions[(192 << 10) + 20] ^= 1
        regions[(256 << 10) + 20] ^= 1
        expectRefused(regions, mentioning: "region table checksum")
        // One bad header is tolerated: the other copy is used.
        var oneHeader = image
        oneHeader[(64 << 10) + 100] ^= 1
        _ = try Self.open(oneHeader)
    }

    @Test func batEntryPastEndOfFile() throws {
        var image = try Self.sampleImage()
        Self.put64(&image, Self.batOffset + 8, VHDXBATEntry(state: .fullyPresent, fileOffsetMB: 1000).rawValue)
        expectRefused(image, mentioning: "outside the file")
    }

    @Test func batEntryOverlappingMetadata() throws {
        var image = try Self.sampleImage()
        Self.put64(&image, Self.batOffset + 8, VHDXBATEntry(state: .fullyPresent, fileOffsetMB: 3).rawValue)
        expectRefused(image, mentioning: "overlaps the metadata")
    }

    @Test func batEntriesOverlappingEachOther() throws {
        var image = try Self.sampleImage()
        let first = Array(image[Self.batOffset..<Self.batOffset + 8])
        image.replaceSubrange(Self.batOffset + 24..<Self.batOffset + 32, with: first)
        expectRefused(image, mentioning: "overlapping blocks")
    }

    @Test func invalidBATState() throws {
        var image = try Self.sampleImage()
        Self.put64(&image, Self.batOffset + 8, 4)
        expectRefused(image, mentioning: "invalid state")
    }

    @Test func overlappingRegions() throws {
        var image = try Self.sampleImage()
        // Move the metadata region (entry 2, FileOffset at 16 + 32 + 16) onto the BAT.
        for table in VHDXLayout.regionTableOffsets.map(Int.init) { Self.put64(&image, table + 16 + 32 + 16, 2 << 20) }
        Self.fixRegionCRCs(&image)
        expectRefused(image, mentioning: "overlap")
        var onLog = try Self.sampleImage()
        for table in VHDXLayout.regionTableOffsets.map(Int.init) { Self.put64(&onLog, table + 16 + 16, 1 << 20) }
        Self.fixRegionCRCs(&onLog)
        expectRefused(onLog, mentioning: "overlap")
    }

    @Test func absurdSizes() throws {
        // Virtual size of 2^63: metadata item 2 is the virtual disk size at +64 KiB + 8.
        var huge = try Self.sampleImage()
        Self.put64(&huge, Self.metadataOffset + (64 << 10) + 8, 1 << 63)
        expectRefused(huge, mentioning: "virtual disk size")
        var block = try Self.sampleImage()
        Self.put32(&block, Self.metadataOffset + (64 << 10), 3 << 20)
        expectRefused(block, mentioning: "block size")
        var count = try Self.sampleImage()
        Self.put32(&count, (192 << 10) + 8, 100_000)
        Self.put32(&count, (256 << 10) + 8, 100_000)
        Self.fixRegionCRCs(&count)
        expectRefused(count, mentioning: "2047")
        var item = try Self.sampleImage()
        Self.put32(&item, Self.metadataOffset + 32 + 20, 0xFFFF_FFF0)  // item length
        expectRefused(item, mentioning: "outside the metadata region")
        var log = try Self.sampleImage()
        for header in VHDXLayout.headerOffsets.map(Int.init) { Self.put32(&log, header + 68, 0xFFF0_0000) }
        Self.fixHeaderCRCs(&log)
        expectRefused(log, mentioning: "log")
    }

    @Test func parentChainLoop() throws {
        let dir = try TemporaryDirectory()
        let a = dir.file("a.vhdx")
        let b = dir.file("b.vhdx")
        try VHDXDisk.create(path: a, options: VHDXCreateOptions(virtualSize: 4 << 20, blockSize: 1 << 20)).close()
        try VHDXDisk.create(path: b, options: VHDXCreateOptions(virtualSize: 0, type: .differencing(parentPath: a))).close()
        // Make a differencing disk whose parent is itself: copy b's bytes over a.
        try FileManager.default.removeItem(atPath: a)
        try FileManager.default.copyItem(atPath: b, toPath: a)
        #expect {
            try VHDXDisk.open(path: b, readOnly: true)
        } throws: { error in
            (error as? VirtualDiskError)?.code == .parent
        }
        #expect(throws: VirtualDiskError.self) { try VHDXDisk.open(path: a, readOnly: true) }
    }

    @Test func missingParentIsNamed() throws {
        let dir = try TemporaryDirectory()
        let a = dir.file("base.vhdx")
        try VHDXDisk.create(path: a, options: VHDXCreateOptions(virtualSize: 4 << 20, blockSize: 1 << 20)).close()
        try VHDXDisk.create(path: dir.file("child.vhdx"), options: VHDXCreateOptions(virtualSize: 0, type: .differencing(parentPath: a))).close()
        try FileManager.default.removeItem(atPath: a)
        #expect {
            try VHDXDisk.open(path: dir.file("child.vhdx"), readOnly: true)
        } throws: { error in
            (error as? VirtualDiskError)?.description.contains("base.vhdx") == true
        }
    }

    @Test func readOnlyIsHonoured() throws {
        let disk = try Self.open(try Self.sampleImage())
        #expect(throws: VirtualDiskError.self) { try disk.write(at: 0, [1]) }
        #expect(throws: VirtualDiskError.self) { try disk.resize(to: 8 << 20) }
        #expect(throws: VirtualDiskError.self) { try disk.discard(at: 0, length: 1 << 20) }
        #expect(throws: VirtualDiskError.self) { try disk.read(at: 4 << 20, count: 1) }
    }
}

/// Seeded random mutation of the structures the parser reads; every outcome must be a clean
/// open or a `VirtualDiskError`, never a crash, hang or runaway allocation.
@Suite struct ParserFuzzTests {
    @Test(arguments: [UInt64(1), 2])
    func mutatedImagesNeverCrash(seed: UInt64) throws {
        let clean = try HostileInputTests.sampleImage()
        // A second base with a pending log (crash after the log write).
        let faulty = FaultFile(bytes: try makeMemoryVHDX(size: 4 << 20).bytes, failAt: 9)
        let dirtyDisk = try VHDXDisk(file: faulty, readOnly: false)
        _ = try? dirtyDisk.write(at: 1 << 20, randomBytes(4096, seed: 3))
        let dirty = faulty.crashImage(.durableOnly, seed: 0)
        let targets: [(Int, Int)] = [
            (0, 16), (64 << 10, 80), (128 << 10, 80), (192 << 10, 80), (256 << 10, 80), (3 << 20, 224), ((3 << 20) + (64 << 10), 72),
            (2 << 20, 64), (1 << 20, 160), ((1 << 20) + 4096, 64),
        ]
        var generator = SeededGenerator(seed: seed)
        var opened = 0
        let iterations = 1000
        for iteration in 0..<iterations {
            var image = generator.next() % 2 == 0 ? clean : dirty
            for _ in 0..<(1 + generator.next() % 4) {
                let (start, length) = targets[Int(generator.next() % UInt64(targets.count))]
                let offset = start + Int(generator.next() % UInt64(length))
                switch generator.next() % 4 {
                case 0: image[offset] ^= UInt8(1 << (generator.next() % 8))
                case 1: image[offset] = UInt8(truncatingIfNeeded: generator.next())
                case 2: image[offset] = [0, 0xFF, 0x7F, 0x80][Int(generator.next() % 4)]
                default:
                    let value = [UInt64.max, 1 << 63, 1 << 40, 1 << 20, 0][Int(generator.next() % 5)]
                    if offset + 8 <= image.count { HostileInputTests.put64(&image, offset, value) }
                }
            }
            if generator.next() % 2 == 0 {
                HostileInputTests.fixHeaderCRCs(&image)
                HostileInputTests.fixRegionCRCs(&image)
            }
            if generator.next() % 8 == 0 { image.removeLast(Int(generator.next() % UInt64(image.count))) }
            do {
                let writable = generator.next() % 2 == 0
                let disk = try VHDXDisk(file: FaultFile(bytes: image, readOnly: !writable), readOnly: !writable)
                opened += 1
                let size = disk.virtualSize
                for _ in 0..<4 {
                    let offset = generator.next() % size
                    _ = try? disk.read(at: offset, count: Int(min(size - offset, 70_000)))
                }
                if writable { _ = try? disk.write(at: 0, [UInt8](repeating: UInt8(iteration & 0xFF), count: 4096)) }
                _ = try? disk.allocatedRanges()
                try? disk.close()
            } catch is VirtualDiskError {
                // Refused with a named problem: fine.
            }
        }
        #expect(opened > iterations / 20, "mutations should sometimes leave a usable image (opened \(opened))")
    }
}
