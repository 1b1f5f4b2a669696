import Foundation
import Testing

/// A guest reboot request ends the worker with status 3 ("reset": its manager restarts the VM).
/// The kernel is told `reboot=acpi`, so the request goes through the FADT reset register that
/// the ACPI power-management device implements, not a triple fault.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct ResetTests {
    @Test(.enabled(if: GuestEnvironment.canRun))
    func sysRqRebootResetsThroughTheACPIResetRegister() throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-reset-test.log").path
        let cmdline = TestKernelBootTests.cmdline.replacingOccurrences(of: "reboot=t", with: "reboot=acpi")
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "128", "--cmdline", cmdline, "--no-hyper-v",
            ], logPath: logPath)
        let reachedInit = worker.waitFor("Run /init as init process", timeout: 420)
        #expect(reachedInit, "no /init; log in \(logPath)")
        guard reachedInit else {
            _ = worker.waitForExit(timeout: 1)
            return
        }
        #expect(!worker.text.contains("Hypervisor detected: Microsoft Hyper-V"), "--no-hyper-v still showed Hyper-V")
        Thread.sleep(forTimeInterval: 2)
        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "b")])
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 3, "worker status \(String(describing: status)) after SysRq reboot; log in \(logPath)")
        #expect(worker.text.contains("sysrq: Resetting"))
        #expect(worker.text.contains("acpi-pm: guest requested reset"), "the reset did not come through the ACPI reset register")
    }
}
