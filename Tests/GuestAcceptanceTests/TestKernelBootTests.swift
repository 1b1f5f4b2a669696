import Foundation
import Testing

/// Acceptance on this machine kind (nested KVM-PVM): the project's test kernel boots under
/// `hv-worker` with ACPI, the serial console and the RTC working, and powers off through ACPI on
/// a magic-SysRq request typed at the serial console. Checks are on what the guest *kernel*
/// prints: guest user programs cannot make system calls here (docs/guest-images.md).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct TestKernelBootTests {
    static let cmdline =
        "console=ttyS0 reboot=t panic=-1 lpj=2000000 tsc=reliable mitigations=off nopti nokaslr nowatchdog noreplace-smp sysrq_always_enabled"

    @Test(.enabled(if: GuestEnvironment.canRun))
    func bootsToInitAndPowersOffOnSysRq() throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-boot-test.log").path
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "128", "--cpus", "1", "--cmdline", Self.cmdline,
            ], logPath: logPath)

        let reachedInit = worker.waitFor("Run /init as init process", timeout: 420)
        #expect(reachedInit, "the guest never ran /init; console log in \(logPath)")
        guard reachedInit else {
            _ = worker.waitForExit(timeout: 1)
            return
        }
        let log = worker.text
        #expect(log.contains("ACPI: "), "ACPI tables were not used")
        #expect(!log.contains("ACPI Error") && !log.contains("ACPI BIOS Error"), "ACPI errors in the guest log")
        #expect(log.contains("16550A"), "the guest did not find a 16550A UART")
        #expect(log.contains("rtc_cmos"), "the guest did not bind the CMOS RTC")
        #expect(!log.contains("Unable to read current time"), "the RTC was unreadable")

        // Magic SysRq over serial: BREAK, then 'o' (power off), typed through the console escape.
        Thread.sleep(forTimeInterval: 2)
        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "o")])
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 0, "the worker did not exit 0 after SysRq power-off (status \(String(describing: status))); log in \(logPath)")
        #expect(worker.text.contains("sysrq: Power Off"), "the guest did not take the SysRq request")
        #expect(worker.text.contains("powered off"), "the worker did not say the guest powered off")
    }
}
