import Foundation
import Testing

/// Acceptance of the Hyper-V enlightenments and VMBus on this machine kind: the unmodified
/// test kernel's own `hv_vmbus` and `hv_utils` find "Microsoft Hv", negotiate VMBus and the
/// heartbeat, shutdown and time-sync services, open the KVP channel; the host sees the heartbeat
/// advance; a host-requested shutdown powers the guest off through the kernel. Two vCPUs, so
/// SMP bring-up (MADT, INIT/SIPI) and SynIC delivery to more than one VP are exercised too.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HyperVGuestTests {
    static func sequence(in text: String) -> [UInt64] {
        text.split(whereSeparator: \.isNewline).compactMap { line -> UInt64? in
            guard let range = line.range(of: "heartbeat: healthy, sequence ") else { return nil }
            return UInt64(line[range.upperBound...].prefix { $0.isNumber })
        }
    }

    @Test(.enabled(if: GuestEnvironment.canRun))
    func vmbusAndIntegrationServicesWorkAndHostShutdownPowersOff() throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hyperv-test.log").path
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "128", "--cpus", "2", "--cmdline", TestKernelBootTests.cmdline,
            ], logPath: logPath)

        #expect(worker.waitFor("Run /init as init process", timeout: 420), "no /init; log in \(logPath)")
        // hv_utils probes its channels asynchronously; give the last ones a moment.
        #expect(worker.waitFor("kvp: the guest opened the channel", timeout: 60), "the KVP channel was not opened")
        let log = worker.text
        #expect(log.contains("Hypervisor detected: Microsoft Hyper-V"))
        #expect(log.contains("smp: Brought up 1 node, 2 CPUs"), "the second vCPU did not come up")
        #expect(log.contains("hv_vmbus: Vmbus version:"), "hv_vmbus did not negotiate")
        #expect(log.contains("hv_utils: Heartbeat IC version"))
        #expect(log.contains("hv_utils: Shutdown IC version"))
        #expect(log.contains("hv_utils: TimeSync IC version"))
        for line in log.split(whereSeparator: \.isNewline) where line.contains("hv_vmbus") || line.contains("hv_utils") {
            let lower = line.lowercased()
            #expect(!lower.contains("error") && !lower.contains("fail") && !lower.contains("unable"), "guest reported: \(line)")
        }

        // The host sees the heartbeat sequence number advance.
        worker.signal(SIGUSR1)
        Thread.sleep(forTimeInterval: 4)
        worker.signal(SIGUSR1)
        Thread.sleep(forTimeInterval: 1)
        let sequences = Self.sequence(in: worker.text)
        #expect(sequences.count >= 2 && (sequences.last ?? 0) > (sequences.first ?? 0), "heartbeat did not advance: \(sequences)")

        // A host-requested graceful shutdown: the guest's helper cannot run here, so the kernel's
        // forced power-off path powers it off through ACPI.
        worker.signal(SIGTERM)
        let status = worker.waitForExit(timeout: 240)
        #expect(status == 0, "worker status \(String(describing: status)) after the shutdown request; log in \(logPath)")
        #expect(worker.text.contains("asked the guest to shut down"))
        #expect(worker.text.contains("Shutdown request received"), "hv_utils did not take the request")
        #expect(worker.text.contains("the guest powered off"))
    }
}
