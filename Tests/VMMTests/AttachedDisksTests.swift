import Chipset
import Configuration
import Foundation
import Testing
import VirtualDisk

@testable import VMM

@Suite struct AttachedDisksTests {
    func config(_ disks: [DiskAttachment], hyperV: Bool = true) -> VMConfiguration {
        var c = VMConfiguration(name: "disks", boot: BootSource(kernel: "/nonexistent/vmlinux"))
        c.disks = disks
        c.hyperV = hyperV
        return c
    }

    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("attach-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func opensLocksAndReleases() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try RawDisk.create(path: dir + "/a.img", size: 1 << 20)
        _ = try VHDXDisk.create(path: dir + "/b.vhdx", options: VHDXCreateOptions(virtualSize: 2 << 20))
        let c = config([DiskAttachment(path: dir + "/a.img"), DiskAttachment(path: dir + "/b.vhdx", lun: 4, readOnly: true)])
        let disks = try AttachedDisks.open(c)
        #expect(disks.disks.keys.sorted() == [0, 4])
        #expect(disks.disks[4]?.disk.isReadOnly == true && disks.disks[4]?.disk.virtualSize == 2 << 20)
        // A second VM cannot take the read-write image; a read-only image may be shared.
        do {
            _ = try AttachedDisks.open(config([DiskAttachment(path: dir + "/a.img")]))
            Issue.record("a locked image was attached twice")
        } catch {
            #expect("\(error)".contains("a.img") && "\(error)".contains("in use"))
        }
        let shared = try AttachedDisks.open(config([DiskAttachment(path: dir + "/b.vhdx", readOnly: true)]))
        shared.close()
        disks.close()
        // After close the lock is gone.
        let again = try AttachedDisks.open(config([DiskAttachment(path: dir + "/a.img")]))
        again.close()
    }

    @Test func missingImageIsNamed() throws {
        do {
            _ = try AttachedDisks.open(config([DiskAttachment(path: "/nonexistent/root.vhdx")]))
            Issue.record("a missing image was attached")
        } catch {
            #expect("\(error)".contains("/nonexistent/root.vhdx"))
        }
    }

    @Test func identitiesDifferPerFileAndLUN() {
        #expect(AttachedDisks.identity(of: "1:2", lun: 0) != AttachedDisks.identity(of: "1:3", lun: 0))
        #expect(AttachedDisks.identity(of: "1:2", lun: 0) != AttachedDisks.identity(of: "1:2", lun: 1))
        #expect(AttachedDisks.identity(of: "1:2", lun: 0).count == 16)
        #expect(VMInstance.storageInstanceID(vmName: "a") == VMInstance.storageInstanceID(vmName: "a"))
        #expect(VMInstance.storageInstanceID(vmName: "a") != VMInstance.storageInstanceID(vmName: "b"))
    }

    @Test func disksWithoutHyperVAreRefused() throws {
        do {
            _ = try VMInstance(configuration: config([DiskAttachment(path: "/x.img")], hyperV: false), console: SerialOutputClosure { _ in })
            Issue.record("built a VM with disks and no VMBus")
        } catch {
            #expect("\(error)".contains("Hyper-V"))
        }
    }
}
