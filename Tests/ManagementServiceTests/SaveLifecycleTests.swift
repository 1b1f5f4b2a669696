import Configuration
import Foundation
import HVClient
import ManagementService
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Save-VM through hvd with a real guest (test kernel, no Hyper-V): start → save → Saved (the
/// file in the VM's directory, changes refused) → start → Running from the saved state (the
/// guest continues: no second boot on the console) → turn off; save again → discard → Off;
/// a Hyper-V VM is saved and continues the same way.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SaveLifecycleTests {
    /// The API error of a refused request (status, message), nil when it succeeded.
    func refusal(_ body: () throws(HVClientError) -> Void) -> (status: Int, message: String)? {
        do {
            try body()
            return nil
        } catch {
            return APITests.apiError(error).map { ($0.status, $0.message) } ?? (-1, "\(error)")
        }
    }

    func status(_ body: () throws(HVClientError) -> Void) -> Int? { refusal(body)?.status }

    @Test(.enabled(if: TestEnvironment.canBootGuests)) func saveStartDiscard() throws {
        guard let images = TestEnvironment.guestImages else { return }
        let allowed = [images.kernel, images.initramfs].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        let hvd = try HVDProcess(extraAllowed: allowed)
        defer { hvd.terminate() }
        let boot = BootRequest(kernel: images.kernel, initrd: images.initramfs, cmdline: TestEnvironment.cmdline)
        let created = try hvd.client.createVM(CreateVMRequest(name: "saver", memoryMiB: 128, boot: boot, hyperV: false))
        let savedFile = hvd.stateDirectory + "/vms/\(created.id)/saved-state.hvsave"

        #expect(status { () throws(HVClientError) in _ = try hvd.client.save("saver") } == 409, "an Off VM was saved")
        #expect(try hvd.client.start("saver").state == .running)
        let console = try hvd.client.openConsole("saver")
        let bootLog = VMLifecycleTests().readConsole(console, until: "Run /init as init process", timeout: 300)
        console.close()
        #expect(bootLog.contains("Run /init as init process"))

        let saved = try hvd.client.save("saver")
        #expect(saved.state == .saved, "state \(saved.state), reason \(saved.stateReason ?? "-")")
        #expect(saved.workerPID == nil)
        #expect(FileManager.default.fileExists(atPath: savedFile))
        #expect(try hvd.client.events(vm: "saver").contains { $0.state == .saving })
        #expect(status { () throws(HVClientError) in _ = try hvd.client.updateVM("saver", UpdateVMRequest(memoryMiB: 256)) } == 409)
        #expect(status { () throws(HVClientError) in _ = try hvd.client.addDisk("saver", DiskAttachment(path: "/nonexistent.vhdx")) } == 409)
        #expect(status { () throws(HVClientError) in _ = try hvd.client.pause("saver") } == 409)

        let restored = try hvd.client.start("saver")
        #expect(restored.state == .running)
        #expect(!FileManager.default.fileExists(atPath: savedFile), "the saved state outlived the start")
        #expect(try hvd.client.events(vm: "saver").contains { $0.message.contains("from the saved state") })
        // The console history of the new worker starts after the restore: no second boot.
        let after = try hvd.client.openConsole("saver")
        let text = VMLifecycleTests().readConsole(after, until: "Linux version", timeout: 5)
        after.close()
        #expect(!text.contains("Linux version"), "the guest booted again instead of continuing")
        #expect(try hvd.client.turnOff("saver").state == .off)

        // Save again, then discard: Off, and the next start would boot afresh.
        #expect(try hvd.client.start("saver").state == .running)
        #expect(try hvd.client.save("saver").state == .saved)
        let discarded = try hvd.client.discardSavedState("saver")
        #expect(discarded.state == .off)
        #expect(!FileManager.default.fileExists(atPath: savedFile))
        #expect(status { () throws(HVClientError) in _ = try hvd.client.discardSavedState("saver") } == 409)
        try hvd.client.deleteVM("saver")

        // A Hyper-V VM (VMBus and the integration services): saved and started from Saved too;
        // the guest continues (no second boot on the console).
        _ = try hvd.client.createVM(CreateVMRequest(name: "hyperv", memoryMiB: 128, boot: boot))
        #expect(try hvd.client.start("hyperv").state == .running)
        let hvConsole = try hvd.client.openConsole("hyperv")
        let hvBoot = VMLifecycleTests().readConsole(hvConsole, until: "Run /init as init process", timeout: 300)
        hvConsole.close()
        #expect(hvBoot.contains("Run /init as init process"))
        let hvSaved = try hvd.client.save("hyperv")
        #expect(hvSaved.state == .saved, "state \(hvSaved.state), reason \(hvSaved.stateReason ?? "-")")
        #expect(try hvd.client.start("hyperv").state == .running)
        let hvAfter = try hvd.client.openConsole("hyperv")
        let hvText = VMLifecycleTests().readConsole(hvAfter, until: "Linux version", timeout: 5)
        hvAfter.close()
        #expect(!hvText.contains("Linux version"), "the Hyper-V guest booted again instead of continuing")
        #expect(try hvd.client.turnOff("hyperv").state == .off)
    }
}
