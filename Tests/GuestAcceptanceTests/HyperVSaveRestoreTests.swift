import Foundation
import Testing

/// Save-VM of a guest that uses VMBus: the test kernel with Hyper-V, its root on the synthetic
/// SCSI disk and the integration services running, saved from the console (Ctrl-] v) and
/// restored in a new worker. The guest goes on without renegotiating: the host still sees its
/// heartbeat advance, SysRq sync and remount reach the disk through storvsc, the shutdown
/// service still takes a host shutdown request, and the file system is clean afterwards.
@Suite(.serialized, .timeLimit(.minutes(15)))
struct HyperVSaveRestoreTests {
    @Test(.enabled(if: StorageGuestTests.canRun))
    func vmbusGuestWithARootDiskContinuesAfterRestore() throws {
        let dir = try Scratch()
        let image = try dir.ext4Image()
        let savePath = dir.path + "/vm.hvsave"
        let arguments = [
            "run", "--kernel", GuestEnvironment.kernel ?? "", "--memory", "128", "--cpus", "1",
            "--cmdline", TestKernelBootTests.cmdline + " root=/dev/sda rw rootwait init=/init", "--disk", image,
            "--save-file", savePath,
        ]
        let firstLog = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hv-save-1.log").path
        let first = try WorkerProcess(arguments: arguments, logPath: firstLog)
        let ran = first.waitFor("Run /init as init process", timeout: 420)
        #expect(ran, "the guest never ran /init from the disk; log in \(firstLog)")
        guard ran else {
            _ = first.waitForExit(timeout: 1)
            return
        }
        #expect(first.waitFor("kvp: the guest opened the channel", timeout: 60), "the KVP channel was not opened")
        // Wait until the host has seen a heartbeat answer, so the save lands mid-conversation.
        var before: [UInt64] = []
        for _ in 0..<20 where before.isEmpty {
            first.signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 1.5)
            before = HyperVGuestTests.sequence(in: first.text)
        }
        #expect(!before.isEmpty, "no heartbeat before the save; log in \(firstLog)")
        first.type([0x1D, UInt8(ascii: "v")])
        let savedStatus = first.waitForExit(timeout: 120)
        #expect(savedStatus == 5, "worker status \(String(describing: savedStatus)) after Ctrl-] v; log in \(firstLog)")
        guard savedStatus == 5 else { return }

        let secondLog = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hv-save-2.log").path
        let second = try WorkerProcess(arguments: arguments + ["--restore", savePath], logPath: secondLog)
        #expect(second.waitFor("restoring", timeout: 30), "log in \(secondLog)")
        // The heartbeat goes on from where it was: the host sees a higher sequence, with no new
        // negotiation (the guest does not print its IC versions again).
        var after: [UInt64] = []
        for _ in 0..<20 where (after.last ?? 0) <= (before.last ?? 0) {
            second.signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 1.5)
            after = HyperVGuestTests.sequence(in: second.text)
        }
        #expect((after.last ?? 0) > (before.last ?? 0), "heartbeat did not continue: before \(before), after \(after); log in \(secondLog)")
        #expect(!second.text.contains("Linux version"), "the restored guest booted again")
        #expect(!second.text.contains("hv_utils: Heartbeat IC version"), "the guest renegotiated its integration services")

        // Storage after restore: sync and remount read-only go through storvsc to the image.
        for key in ["s", "u"] {
            second.type([0x1D, UInt8(ascii: "b")])
            Thread.sleep(forTimeInterval: 0.5)
            second.type(Array(key.utf8))
            let marker = key == "s" ? "Emergency Sync complete" : "Emergency Remount complete"
            #expect(second.waitFor(marker, timeout: 90), "no '\(marker)' after restore; log in \(secondLog)")
        }
        // The shutdown service still answers: a host shutdown request powers the guest off.
        second.signal(SIGTERM)
        let status = second.waitForExit(timeout: 240)
        #expect(status == 0, "worker status \(String(describing: status)) after the shutdown request; log in \(secondLog)")
        #expect(second.text.contains("Shutdown request received"), "hv_utils did not take the request after restore")
        let fsck = try StorageGuestTests().run("/usr/sbin/e2fsck", ["-fn", image])
        #expect(fsck.status == 0, "e2fsck found the image unclean after save, restore and shutdown: \(fsck.output)")
    }
}
