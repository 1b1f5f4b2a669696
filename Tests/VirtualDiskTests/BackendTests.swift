import Foundation
import Testing

@testable import VirtualDisk
import TestSupport

@Suite struct RawDiskTests {
    @Test func sparseHolesReadAsZeroAndDiscardPunches() throws {
        let dir = try TemporaryDirectory()
        let disk = try RawDisk.create(path: dir.file("a.img"), size: 8 << 20)
        #expect(try disk.read(at: 5 << 20, count: 4096) == [UInt8](repeating: 0, count: 4096))
        let data = randomBytes(2 << 20, seed: 4)
        try disk.write(at: 1 << 20, data)
        try disk.flush()
        #expect(try disk.read(at: 1 << 20, count: 2 << 20) == data)
        let before = try disk.allocatedBytes()
        try disk.discard(at: 1 << 20, length: 1 << 20)
        #expect(try disk.read(at: 1 << 20, count: 1 << 20) == [UInt8](repeating: 0, count: 1 << 20))
        #expect(try disk.read(at: 2 << 20, count: 1 << 20) == Array(data[(1 << 20)...]))
        #expect(try disk.allocatedBytes() < before)
        #expect(disk.virtualSize == 8 << 20)
        #expect(throws: VirtualDiskError.self) { try disk.read(at: 8 << 20, count: 1) }
        #expect(throws: VirtualDiskError.self) { try disk.write(at: UInt64.max - 1, [1, 2, 3]) }
        try disk.close()
        let readOnly = try RawDisk(path: dir.file("a.img"), readOnly: true)
        #expect(throws: VirtualDiskError.self) { try readOnly.write(at: 0, [1]) }
        #expect(throws: VirtualDiskError.self) { try RawDisk.create(path: dir.file("a.img"), size: 1 << 20) }
    }
}

@Suite struct VHDXBehaviourTests {
    @Test(arguments: [UInt32(512), 4096])
    func unalignedIOAndReopen(sectorSize: UInt32) throws {
        let file = try makeMemoryVHDX(size: 6 << 20, sectorSize: sectorSize)
        let disk = try VHDXDisk(file: file, readOnly: false)
        var model = [UInt8](repeating: 0, count: 6 << 20)
        var generator = SeededGenerator(seed: UInt64(sectorSize))
        for round in 0..<30 {
            let length = Int(generator.next() % 200_000) + 1
            let offset = Int(generator.next() % UInt64(model.count - length))
            let data = randomBytes(length, seed: UInt64(round))
            try disk.write(at: UInt64(offset), data)
            model.replaceSubrange(offset..<offset + length, with: data)
        }
        #expect(try disk.read(at: 0, count: model.count) == model)
        try disk.close()
        let again = try VHDXDisk(file: FaultFile(bytes: file.bytes, readOnly: true), readOnly: true)
        #expect(again.logicalSectorSize == sectorSize)
        #expect(try again.read(at: 0, count: model.count) == model)
        #expect(try again.read(at: 777, count: 5555) == Array(model[777..<6332]))
    }

    @Test(arguments: [UInt32(512), 4096])
    func differencingSectorBitmaps(sectorSize: UInt32) throws {
        let parentFile = try makeMemoryVHDX(size: 4 << 20, sectorSize: sectorSize)
        let base = randomBytes(4 << 20, seed: 11)
        let writable = try VHDXDisk(file: parentFile, readOnly: false)
        try writable.write(at: 0, base)
        try writable.close()
        let parent = try VHDXDisk(file: FaultFile(bytes: parentFile.bytes, readOnly: true), readOnly: true)
        let childFile = try makeMemoryVHDX(size: 4 << 20, sectorSize: sectorSize, locator: VHDXParentLocator(entries: [("parent_linkage", "{x}")]))
        let child = try VHDXDisk(file: childFile, readOnly: false, parent: parent)
        var model = base
        for (offset, length) in [(0, Int(sectorSize)), (Int(sectorSize) * 3, Int(sectorSize) * 2), (100_000, 3000), (2 << 20, 1 << 20), ((1 << 20) - 10, 20)] {
            let data = randomBytes(length, seed: UInt64(offset))
            try child.write(at: UInt64(offset), data)
            model.replaceSubrange(offset..<offset + length, with: data)
        }
        #expect(try child.read(at: 0, count: model.count) == model)
        let ranges = try child.allocatedRanges()
        #expect(ranges.first?.offset == 0)
        #expect(ranges.contains { $0.offset == 2 << 20 && $0.length >= 1 << 20 })
        try child.close()
    }

    @Test func discardReleasesWholeBlocks() throws {
        let file = try makeMemoryVHDX(size: 4 << 20)
        let disk = try VHDXDisk(file: file, readOnly: false)
        try disk.write(at: 0, randomBytes(3 << 20, seed: 1))
        #expect(try disk.allocatedRanges().map(\.length).reduce(0, +) == 3 << 20)
        try disk.discard(at: 512, length: (2 << 20) - 512)  // block 0 partly, block 1 wholly
        #expect(try disk.read(at: 1 << 20, count: 1 << 20) == [UInt8](repeating: 0, count: 1 << 20))
        #expect(try disk.read(at: 0, count: 16) == Array(randomBytes(16, seed: 1)))
        #expect(try disk.allocatedRanges().map(\.length).reduce(0, +) == 2 << 20)
        try disk.write(at: (1 << 20) + 4096, [1, 2, 3])
        #expect(try disk.read(at: (1 << 20) + 4096, count: 3) == [1, 2, 3])
        try disk.close()
    }

    @Test func concurrentWritersFromManyThreads() async throws {
        let disk = try VHDXDisk(file: try makeMemoryVHDX(size: 16 << 20), readOnly: false)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<8 {
                        let offset = UInt64(worker) * (2 << 20) + UInt64(round) * 65536
                        try? disk.write(at: offset, [UInt8](repeating: UInt8(worker * 8 + round), count: 65536))
                    }
                }
            }
        }
        for worker in 0..<8 {
            for round in 0..<8 {
                let offset = UInt64(worker) * (2 << 20) + UInt64(round) * 65536
                #expect(try disk.read(at: offset, count: 65536) == [UInt8](repeating: UInt8(worker * 8 + round), count: 65536))
            }
        }
        try disk.close()
        #expect(throws: VirtualDiskError.self) { try disk.read(at: 0, count: 1) }
    }

    @Test func fixedDiskLayoutAndInspect() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("f.vhdx")
        var reported: [(UInt64, UInt64)] = []
        let disk = try VHDXDisk.create(
            path: path, options: VHDXCreateOptions(virtualSize: 10 << 20, type: .fixed, blockSize: 2 << 20), progress: { reported.append(($0, $1)) })
        #expect(disk.isFixed)
        try disk.write(at: 3 << 20, [9, 9, 9])
        try disk.close()
        #expect(reported.last.map { $0.0 == $0.1 } == true)
        let info = try DiskInfo.inspect(path: path)
        #expect(info.type == "fixed")
        #expect(info.virtualSize == 10 << 20)
        #expect(info.blockSize == 2 << 20)
        #expect(info.allocatedBytes == 10 << 20)
        #expect(try DiskOperations.check(path: path).ok)
        // A damaged image is reported, not thrown at the user, by check.
        let handle = try #require(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 192 << 10)
        try handle.write(contentsOf: Data([0, 0, 0, 0]))
        try handle.seek(toOffset: 256 << 10)
        try handle.write(contentsOf: Data([0, 0, 0, 0]))
        try handle.close()
        let report = try DiskOperations.check(path: path)
        #expect(!report.ok)
        #expect(report.problems.first?.contains("region table") == true)
        #expect(throws: VirtualDiskError.self) { try DiskFormat.detect(path: dir.file("missing.vhdx")) }
    }

    @Test func createRejectsBadOptions() throws {
        let dir = try TemporaryDirectory()
        for options in [
            VHDXCreateOptions(virtualSize: 0), VHDXCreateOptions(virtualSize: 1 << 20, blockSize: 3 << 20),
            VHDXCreateOptions(virtualSize: 1000), VHDXCreateOptions(virtualSize: 65 << 40),
            VHDXCreateOptions(virtualSize: 1 << 20, logicalSectorSize: 1024),
        ] {
            #expect(throws: VirtualDiskError.self) { try VHDXDisk.create(path: dir.file("x.vhdx"), options: options) }
            #expect(!FileManager.default.fileExists(atPath: dir.file("x.vhdx")))
        }
    }
}
