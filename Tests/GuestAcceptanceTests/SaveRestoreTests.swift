import Foundation
import Testing

/// Save-VM / Start-VM from saved state with the test kernel: boot to /init, save from the
/// console (Ctrl-] v, worker exit status 5), restore in a new worker process, and the guest
/// kernel continues: magic SysRq 'h' prints its help on the serial console and 'o' powers off.
@Suite(.serialized) struct SaveRestoreTests {
    @Test(.enabled(if: GuestEnvironment.canRun))
    func savedGuestContinuesInANewWorker() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-save-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let savePath = directory.appendingPathComponent("vm.hvsave").path
        let arguments = [
            "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
            "--memory", "128", "--cmdline", TestKernelBootTests.cmdline, "--no-hyper-v", "--save-file", savePath,
        ]
        let firstLog = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-save-1.log").path
        let first = try WorkerProcess(arguments: arguments, logPath: firstLog)
        let reachedInit = first.waitFor("Run /init as init process", timeout: 420)
        #expect(reachedInit, "no /init; log in \(firstLog)")
        guard reachedInit else {
            _ = first.waitForExit(timeout: 1)
            return
        }
        Thread.sleep(forTimeInterval: 2)
        first.type([0x1D, UInt8(ascii: "v")])
        let savedStatus = first.waitForExit(timeout: 120)
        #expect(savedStatus == 5, "worker status \(String(describing: savedStatus)) after Ctrl-] v; log in \(firstLog)")
        #expect(first.text.contains("the VM was saved to \(savePath)"))
        #expect(FileManager.default.fileExists(atPath: savePath))
        guard savedStatus == 5 else { return }

        // Another configuration (memory size) is refused with a message, and the file stays usable.
        let other = try WorkerProcess(
            arguments: arguments.map { $0 == "128" ? "192" : $0 } + ["--restore", savePath])
        #expect(other.waitForExit(timeout: 60) == 1)
        #expect(other.text.contains("different configuration"), "\(other.text)")

        let secondLog = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-save-2.log").path
        let second = try WorkerProcess(arguments: arguments + ["--restore", savePath], logPath: secondLog)
        #expect(second.waitFor("restoring", timeout: 30), "log in \(secondLog)")
        Thread.sleep(forTimeInterval: 2)
        second.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        second.type([UInt8(ascii: "h")])
        #expect(second.waitFor("sysrq: HELP", timeout: 60), "no SysRq help after restore; log in \(secondLog)")
        #expect(!second.text.contains("Linux version"), "the restored guest booted again instead of continuing")
        second.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        second.type([UInt8(ascii: "o")])
        let status = second.waitForExit(timeout: 120)
        #expect(status == 0, "worker status \(String(describing: status)) after SysRq power-off; log in \(secondLog)")
    }

    @Test(.enabled(if: GuestEnvironment.canRun))
    func aFileThatIsNotASavedStateIsRefused() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-save-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("garbage.hvsave").path
        try Data("not a saved state".utf8).write(to: URL(fileURLWithPath: path))
        let worker = try WorkerProcess(arguments: [
            "run", "--kernel", GuestEnvironment.kernel ?? "", "--memory", "128", "--no-hyper-v", "--restore", path,
        ])
        #expect(worker.waitForExit(timeout: 60) == 1)
        #expect(worker.text.contains("not a SwiftHV saved-state file"), "\(worker.text)")
    }
}
