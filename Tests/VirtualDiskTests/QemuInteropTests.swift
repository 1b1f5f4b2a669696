import Foundation
import Testing

@testable import VirtualDisk
import TestSupport

/// Cross-validation with qemu-img (QEMU's VHDX driver) in both directions.
@Suite(.enabled(if: QemuImg.available, "qemu-img not installed: cross-validation skipped"))
struct QemuInteropTests {
    /// A raw image with a recognisable pattern: some blocks random, some zero, some partial.
    func makePatternRaw(_ path: String, size: Int, seed: UInt64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        let chunk = 256 << 10
        var generator = SeededGenerator(seed: seed)
        for start in stride(from: 0, to: size, by: chunk) where generator.next() % 3 != 0 {
            let length = min(chunk, size - start) / 2 + Int(generator.next() % 4096)
            let count = min(length, size - start)
            bytes.replaceSubrange(start..<start + count, with: randomBytes(count, seed: generator.next()))
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return bytes
    }

    @Test(arguments: [("dynamic", "1M"), ("dynamic", "8M"), ("dynamic", "32M"), ("fixed", "1M"), ("fixed", "2M")])
    func qemuCreatedImagesReadBackIdentical(subformat: String, blockSize: String) throws {
        let dir = try TemporaryDirectory()
        let size = 7 << 20 + 4096
        let expected = try makePatternRaw(dir.file("src.raw"), size: size, seed: 42)
        let vhdx = dir.file("q.vhdx")
        let (status, output) = try run([
            QemuImg.path, "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat=\(subformat),block_size=\(blockSize)", dir.file("src.raw"), vhdx,
        ])
        #expect(status == 0, "\(output)")
        let disk = try VHDXDisk.open(path: vhdx, readOnly: true)
        defer { try? disk.close() }
        #expect(disk.virtualSize >= UInt64(size))
        #expect(disk.isFixed == (subformat == "fixed"))
        let actual = try disk.read(at: 0, count: size)
        #expect(actual == expected)
        // Odd offsets and lengths too.
        #expect(try disk.read(at: 12345, count: 3 << 20) == Array(expected[12345..<(12345 + 3 << 20)]))
    }

    @Test(arguments: [VHDXType.dynamic, VHDXType.fixed], [UInt32(1 << 20), UInt32(8 << 20)])
    func ourImagesPassQemuCheckAndCompare(type: VHDXType, blockSize: UInt32) throws {
        let dir = try TemporaryDirectory()
        let size = 20 << 20
        let path = dir.file("ours.vhdx")
        var model = [UInt8](repeating: 0, count: size)
        let disk = try VHDXDisk.create(path: path, options: VHDXCreateOptions(virtualSize: UInt64(size), type: type, blockSize: blockSize))
        var generator = SeededGenerator(seed: 7)
        for round in 0..<40 {
            let length = Int(generator.next() % (300 << 10)) + 1
            let offset = Int(generator.next() % UInt64(size - length))
            let data = randomBytes(length, seed: UInt64(round))
            try disk.write(at: UInt64(offset), data)
            model.replaceSubrange(offset..<offset + length, with: data)
        }
        try disk.close()
        #expect(FileManager.default.createFile(atPath: dir.file("model.raw"), contents: Data(model)))
        let (checkStatus, checkOutput) = try run([QemuImg.path, "check", "-f", "vhdx", path])
        #expect(checkStatus == 0, "\(checkOutput)")
        let (compareStatus, compareOutput) = try run([QemuImg.path, "compare", "-f", "vhdx", "-F", "raw", path, dir.file("model.raw")])
        #expect(compareStatus == 0, "\(compareOutput)")
        let info = try run([QemuImg.path, "info", "--output=json", path]).1
        #expect(info.contains("\"virtual-size\": \(size)"), "\(info)")
    }

    @Test func weWriteIntoQemuCreatedImages() throws {
        let dir = try TemporaryDirectory()
        var model = try makePatternRaw(dir.file("src.raw"), size: 9 << 20, seed: 5)
        let path = dir.file("q.vhdx")
        #expect(try run([QemuImg.path, "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=2M", dir.file("src.raw"), path]).0 == 0)
        let disk = try VHDXDisk.open(path: path, readOnly: false)
        model += [UInt8](repeating: 0, count: Int(disk.virtualSize) - model.count)
        var generator = SeededGenerator(seed: 77)
        for round in 0..<25 {
            let length = Int(generator.next() % 100_000) + 1
            let offset = Int(generator.next() % UInt64(model.count - length))
            let data = randomBytes(length, seed: UInt64(round) + 1000)
            try disk.write(at: UInt64(offset), data)
            model.replaceSubrange(offset..<offset + length, with: data)
        }
        try disk.close()
        #expect(FileManager.default.createFile(atPath: dir.file("model.raw"), contents: Data(model)))
        let (checkStatus, checkOutput) = try run([QemuImg.path, "check", "-f", "vhdx", path])
        #expect(checkStatus == 0, "\(checkOutput)")
        let (status, output) = try run([QemuImg.path, "compare", "-f", "vhdx", "-F", "raw", path, dir.file("model.raw")])
        #expect(status == 0, "\(output)")
    }

    @Test func differencingChainOverQemuParentMergesToWhatQemuReads() throws {
        let dir = try TemporaryDirectory()
        let size = 6 << 20
        var model = try makePatternRaw(dir.file("base.raw"), size: size, seed: 9)
        let parent = dir.file("parent.vhdx")
        #expect(try run([QemuImg.path, "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", dir.file("base.raw"), parent]).0 == 0)
        // qemu rounds the virtual size to its own granularity; use what it made.
        let parentSize = try VHDXDisk.open(path: parent, readOnly: true).virtualSize
        model += [UInt8](repeating: 0, count: Int(parentSize) - size)
        let child = dir.file("child.vhdx")
        let disk = try VHDXDisk.create(path: child, options: VHDXCreateOptions(virtualSize: 0, type: .differencing(parentPath: parent)))
        for (offset, length) in [(0, 512), (700_000, 70_000), (1 << 20, 1 << 20), (5 << 20 + 512, 1024), (3 << 20 + 100, 5000)] {
            let data = randomBytes(length, seed: UInt64(offset))
            try disk.write(at: UInt64(offset), data)
            model.replaceSubrange(offset..<offset + length, with: data)
        }
        #expect(try disk.read(at: 0, count: model.count) == model)
        try disk.close()
        let reopened = try VHDXDisk.open(path: child, readOnly: true)
        #expect(try reopened.read(at: 0, count: model.count) == model)
        #expect(try DiskInfo.inspect(path: child).parentChain == [parent])
        try reopened.close()

        try DiskOperations.merge(child: child)
        #expect(FileManager.default.createFile(atPath: dir.file("model.raw"), contents: Data(model)))
        #expect(try run([QemuImg.path, "check", "-f", "vhdx", parent]).0 == 0)
        let (status, output) = try run([QemuImg.path, "compare", "-f", "vhdx", "-F", "raw", parent, dir.file("model.raw")])
        #expect(status == 0, "\(output)")
        // The child now points at a changed parent and must be refused, not misread.
        #expect(throws: VirtualDiskError.self) { try VHDXDisk.open(path: child, readOnly: true) }
    }

    @Test func convertBothWaysAgreesWithQemu() throws {
        let dir = try TemporaryDirectory()
        let expected = try makePatternRaw(dir.file("a.raw"), size: 5 << 20, seed: 3)
        try DiskOperations.convert(source: dir.file("a.raw"), destination: dir.file("b.vhdx"), format: .vhdx)
        #expect(try run([QemuImg.path, "compare", "-f", "raw", "-F", "vhdx", dir.file("a.raw"), dir.file("b.vhdx")]).0 == 0)
        try DiskOperations.convert(source: dir.file("b.vhdx"), destination: dir.file("c.raw"), format: .raw)
        let back = try Data(contentsOf: URL(fileURLWithPath: dir.file("c.raw")))
        #expect(Array(back.prefix(expected.count)) == expected)
        // Refuses to overwrite.
        #expect(throws: VirtualDiskError.self) {
            try DiskOperations.convert(source: dir.file("a.raw"), destination: dir.file("b.vhdx"), format: .vhdx)
        }
    }

    @Test func resizeGrowsAndQemuAgrees() throws {
        let dir = try TemporaryDirectory()
        let path = dir.file("r.vhdx")
        let disk = try VHDXDisk.create(path: path, options: VHDXCreateOptions(virtualSize: 4 << 20, blockSize: 1 << 20))
        try disk.write(at: 0, [UInt8](repeating: 7, count: 4096))
        try disk.close()
        try DiskOperations.resize(path: path, to: 64 << 20)
        let info = try run([QemuImg.path, "info", "--output=json", path]).1
        #expect(info.contains("\"virtual-size\": \(64 << 20)"), "\(info)")
        #expect(try run([QemuImg.path, "check", "-f", "vhdx", path]).0 == 0)
        let grown = try VHDXDisk.open(path: path, readOnly: false)
        try grown.write(at: 60 << 20, [UInt8](repeating: 9, count: 512))
        #expect(try grown.read(at: 0, count: 1) == [7])
        try grown.close()
        #expect(try run([QemuImg.path, "check", "-f", "vhdx", path]).0 == 0)
        #expect(throws: VirtualDiskError.self) { try DiskOperations.resize(path: path, to: 1 << 20) }
    }

    /// A file left with a pending log (a crash after the log write) is replayed by qemu too.
    @Test func qemuReplaysOurLog() throws {
        let dir = try TemporaryDirectory()
        let base = try makeMemoryVHDX(size: 8 << 20).bytes
        // Operations of the first allocating write: 4 header writes/syncs, setSize, data,
        // sync, log write, sync, then the in-place BAT write (number 9), which never happens.
        let memory = FaultFile(bytes: base, failAt: 9)
        let disk = try VHDXDisk(file: memory, readOnly: false)
        #expect(throws: VirtualDiskError.self) { try disk.write(at: 1 << 20, [UInt8](repeating: 0x5A, count: 8192)) }
        let image = memory.crashImage(.durableOnly, seed: 0)
        // The BAT on disk still says "not present"; only the log knows about the block.
        let stale = try VHDXDisk(file: FaultFile(bytes: image, readOnly: true), readOnly: true)
        #expect(try stale.read(at: 1 << 20, count: 4) == [0x5A, 0x5A, 0x5A, 0x5A])  // replayed in memory
        let batOffset = 2 << 20 + 8  // BAT entry 1 (block 1) of our layout
        #expect(image[batOffset..<batOffset + 8].allSatisfy { $0 == 0 })
        let path = dir.file("dirty.vhdx")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(image)))
        let report = try DiskOperations.check(path: path)
        #expect(report.ok && report.logPending && !report.logReplayed)
        let (status, output) = try run([QemuImg.path, "check", "-r", "all", "-f", "vhdx", path])
        #expect(status == 0, "\(output)")
        let (_, dump) = try run(["/usr/bin/qemu-io", "-f", "vhdx", "-c", "read -P 0x5a 1M 8K", path])
        #expect(dump.contains("read 8192/8192"), "\(dump)")
        #expect(!dump.contains("Pattern verification failed"), "\(dump)")
    }
}
