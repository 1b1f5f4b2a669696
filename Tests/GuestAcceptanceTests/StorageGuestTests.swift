import Foundation
import Testing

/// Acceptance of the synthetic SCSI controller: the unmodified test kernel's `hv_storvsc` and
/// `sd` find a disk of the right size behind VMBus, ext4 mounts it as the root file system, and
/// after SysRq sync / remount read-only / power off the image passes `e2fsck -fn`. Once with a
/// raw image, once with a VHDX copy. The root's `/init` is the test initramfs' spin init (guest
/// programs cannot make system calls on this host, so the kernel's actions are what is checked).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct StorageGuestTests {
    static var toolsReason: String? {
        for tool in ["/usr/sbin/mkfs.ext4", "/usr/sbin/e2fsck"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (scripts/install-deps installs e2fsprogs)"
        }
        return nil
    }

    static var canRun: Bool {
        guard GuestEnvironment.canRun else { return false }
        if let reason = toolsReason {
            print("StorageGuestTests SKIPPED: \(reason)")
            return false
        }
        return true
    }

    @Test(.enabled(if: canRun))
    func ext4RootOnARawDisk() throws {
        let dir = try Scratch()
        let image = try dir.ext4Image()
        // A second, read-only disk at LUN 2: the scan finds it behind REPORT LUNS, write-protected.
        let data = dir.path + "/data.img"
        #expect(FileManager.default.createFile(atPath: data, contents: Data(count: 8 << 20)))
        let log = try boot(disk: image, name: "raw", extra: ["--disk", data + ",ro,lun=2"])
        #expect(log.contains("sd 0:0:0:2: [sdb] 16384 512-byte logical blocks"), "the read-only LUN 2 was not found")
        #expect(log.contains("sd 0:0:0:2: [sdb] Write Protect is on"), "LUN 2 is not write-protected")
        #expect(try run("/usr/sbin/e2fsck", ["-fn", image]).status == 0, "e2fsck found the raw image unclean")
    }

    @Test(.enabled(if: canRun))
    func ext4RootOnAVHDXDisk() throws {
        let dir = try Scratch()
        let raw = try dir.ext4Image()
        let vhdx = dir.path + "/root.vhdx"
        let convert = try run(GuestEnvironment.worker.path, ["disk", "convert", raw, vhdx])
        #expect(convert.status == 0, "disk convert failed: \(convert.output)")
        try boot(disk: vhdx, name: "vhdx")
        let back = dir.path + "/after.img"
        #expect(try run(GuestEnvironment.worker.path, ["disk", "convert", "--format", "raw", vhdx, back]).status == 0)
        #expect(try run("/usr/sbin/e2fsck", ["-fn", back]).status == 0, "e2fsck found the VHDX's file system unclean")
    }

    /// Boots with `disk` as /dev/sda root, checks the kernel log, powers off with SysRq s, u, o.
    @discardableResult
    func boot(disk: String, name: String, extra: [String] = []) throws -> String {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-storage-\(name).log").path
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--memory", "128", "--cpus", "1",
                "--cmdline", TestKernelBootTests.cmdline + " root=/dev/sda rw rootwait init=/init", "--disk", disk,
            ] + extra, logPath: logPath)
        let mounted = worker.waitFor("Run /init as init process", timeout: 420)
        #expect(mounted, "the guest never ran /init from the disk; log in \(logPath)")
        guard mounted else {
            _ = worker.waitForExit(timeout: 1)
            return worker.text
        }
        let log = worker.text
        #expect(log.contains("Direct-Access     Msft     Virtual Disk"), "no SCSI disk was found")
        #expect(log.contains("[sda] 65536 512-byte logical blocks: (33.6 MB/32.0 MiB)"), "wrong disk size")
        #expect(log.contains("EXT4-fs (sda): mounted filesystem"), "ext4 did not mount sda")
        #expect(log.contains("VFS: Mounted root (ext4 filesystem)"), "the root was not mounted")
        for line in log.split(whereSeparator: \.isNewline) where line.contains("storvsc") || line.contains("sd 0:") {
            let lower = line.lowercased()
            #expect(!lower.contains("error") && !lower.contains("fail"), "guest reported: \(line)")
        }
        worker.signal(SIGUSR1)
        #expect(worker.waitFor("lun 0: \(disk)", timeout: 10), "the status report lists no disk")

        // SysRq: s (sync), u (remount read-only), o (power off), each after BREAK.
        Thread.sleep(forTimeInterval: 2)
        for key in ["s", "u", "o"] {
            worker.type([0x1D, UInt8(ascii: "b")])
            Thread.sleep(forTimeInterval: 0.5)
            worker.type(Array(key.utf8))
            if key == "u" { #expect(worker.waitFor("Emergency Remount complete", timeout: 60), "no remount") }
            if key == "s" { #expect(worker.waitFor("Emergency Sync complete", timeout: 60), "no sync") }
        }
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 0, "worker status \(String(describing: status)) after SysRq power-off; log in \(logPath)")
        return worker.text
    }

    func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// A scratch directory with the root file system's contents, removed at deinit.
final class Scratch {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-storage-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path + "/root/dev", withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A 32 MiB ext4 image holding `/hello.txt` and the initramfs' `/init`.
    func ext4Image() throws -> String {
        let root = path + "/root"
        try Data("hello from storvsc\n".utf8).write(to: URL(fileURLWithPath: root + "/hello.txt"))
        let initramfs = try Data(contentsOf: URL(fileURLWithPath: GuestEnvironment.initramfs ?? ""))
        let initBinary = try #require(NewcArchive.file(named: "init", in: [UInt8](initramfs)), "no /init in the initramfs")
        FileManager.default.createFile(atPath: root + "/init", contents: Data(initBinary), attributes: [.posixPermissions: 0o755])
        let image = path + "/root.img"
        let mkfs = Process()
        mkfs.executableURL = URL(fileURLWithPath: "/usr/sbin/mkfs.ext4")
        mkfs.arguments = ["-q", "-d", root, "-F", image, "32M"]
        try mkfs.run()
        mkfs.waitUntilExit()
        #expect(mkfs.terminationStatus == 0, "mkfs.ext4 failed")
        return image
    }
}

/// Just enough of the "newc" cpio format to pull one file out of the test initramfs.
enum NewcArchive {
    static func file(named wanted: String, in bytes: [UInt8]) -> [UInt8]? {
        var offset = 0
        func hex(_ at: Int) -> Int? {
            guard at + 8 <= bytes.count else { return nil }
            return Int(String(decoding: bytes[at..<(at + 8)], as: UTF8.self), radix: 16)
        }
        while offset + 110 <= bytes.count, String(decoding: bytes[offset..<(offset + 6)], as: UTF8.self) == "070701" {
            guard let size = hex(offset + 54), let nameSize = hex(offset + 94), nameSize > 0 else { return nil }
            let nameStart = offset + 110
            guard nameStart + nameSize <= bytes.count else { return nil }
            let name = String(decoding: bytes[nameStart..<(nameStart + nameSize - 1)], as: UTF8.self)
            let dataStart = (nameStart + nameSize + 3) & ~3
            guard dataStart + size <= bytes.count else { return nil }
            if name == wanted || name == "./" + wanted { return Array(bytes[dataStart..<(dataStart + size)]) }
            if name == "TRAILER!!!" { return nil }
            offset = (dataStart + size + 3) & ~3
        }
        return nil
    }
}
