import Configuration
import Foundation
import HVClient
import ManagementService
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The whole path with real workers and one real guest boot (the cached test kernel):
/// create → start → console output and input → vCPU exit metrics → pause (no output, graceful
/// stop refused) → resume → kill -9 hvd → restart: still Running, console
/// re-attaches → kill -9 another VM's worker: Off with the reason, the first unaffected →
/// graceful stop → restart → pause → stop --force (off) → delete.
@Suite(.serialized, .timeLimit(.minutes(10))) struct VMLifecycleTests {
    /// Reads console output until `needle` shows up or the timeout passes; returns all text read.
    func readConsole(_ console: ConsoleConnection, until needle: String, timeout: Double) -> String {
        var text = ""
        let closer = Thread {
            Thread.sleep(forTimeInterval: timeout)
            console.close()
        }
        closer.start()
        while !text.contains(needle), let bytes = try? console.read(), !bytes.isEmpty {
            text += String(decoding: bytes, as: UTF8.self)
        }
        return text
    }

    @Test(.enabled(if: TestEnvironment.canBootGuests)) func lifecycleWithARealGuest() throws {
        guard let images = TestEnvironment.guestImages else { return }
        let allowed = [images.kernel, images.initramfs].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        var hvd = try HVDProcess(extraAllowed: allowed)
        defer { hvd.terminate() }
        let boot = BootRequest(kernel: images.kernel, initrd: images.initramfs, cmdline: TestEnvironment.cmdline)
        _ = try hvd.client.createVM(CreateVMRequest(name: "guest", memoryMiB: 128, boot: boot))
        _ = try hvd.client.createVM(CreateVMRequest(name: "victim", memoryMiB: 64, boot: boot))

        // Two starts at once: serialized, so exactly one starts the VM and the other is refused.
        let outcomes = Mutex<[Int]>([])
        let client = hvd.client
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    _ = try client.start("guest")
                    outcomes.withLock { $0.append(200) }
                } catch {
                    let status = (error as? HVClientError).flatMap { APITests.apiError($0)?.status } ?? -1
                    outcomes.withLock { $0.append(status) }
                }
            }.start()
        }
        group.wait()
        #expect(outcomes.withLock { $0.sorted() } == [200, 409])
        let started = try hvd.client.vm("guest")
        #expect(started.state == .running)
        let pid = try #require(started.workerPID)

        // A worker killed with SIGKILL: its VM goes Off with the reason; the other VM runs on.
        let victim = try hvd.client.start("victim")
        kill(try #require(victim.workerPID), SIGKILL)
        #expect(hvd.wait(timeout: 20) { (try? hvd.client.vm("victim").state) == .off })
        let victimNow = try hvd.client.vm("victim")
        #expect(victimNow.stateReason?.contains("signal 9") == true, "reason: \(victimNow.stateReason ?? "none")")
        #expect(try hvd.client.events(vm: "victim").contains { $0.message.contains("signal 9") })
        #expect(try hvd.client.vm("guest").state == .running)

        // With the Restart recovery action, a killed worker is replaced.
        _ = try hvd.client.createVM(CreateVMRequest(name: "phoenix", memoryMiB: 64, boot: boot, recoveryAction: .restart))
        let phoenix = try hvd.client.start("phoenix")
        kill(try #require(phoenix.workerPID), SIGKILL)
        #expect(hvd.wait(timeout: 30) {
            guard let vm = try? hvd.client.vm("phoenix") else { return false }
            return vm.state == .running && vm.workerPID != nil && vm.workerPID != phoenix.workerPID
        })
        #expect(try hvd.client.events(vm: "phoenix").contains { $0.state == .resetting && $0.message.contains("restarting") })
        #expect(try hvd.client.turnOff("phoenix").state == .off)
        try hvd.client.deleteVM("phoenix")

        // Console: the boot log arrives, and typed input reaches the guest (its tty echoes it).
        let console = try hvd.client.openConsole("guest")
        let bootLog = readConsole(console, until: "Run /init as init process", timeout: 300)
        #expect(bootLog.contains("Run /init as init process"), "console output: \(bootLog.suffix(2000))")
        try console.write(Array("typed-input-4242\r".utf8))
        let echoed = readConsole(console, until: "typed-input-4242", timeout: 30)
        #expect(echoed.contains("typed-input-4242"), "the guest did not echo console input")

        // vCPU exit counters reach /metrics through the control channel.
        let metrics = String(decoding: try hvd.client.send("GET", "/metrics").body, as: UTF8.self)
        let exits = metrics.split(separator: "\n").first { $0.hasPrefix(#"swifthv_vcpu_exits_total{vm="guest",vcpu="0"} "#) }
        let exitCount = exits.flatMap { $0.split(separator: " ").last }.flatMap { UInt64($0) } ?? 0
        #expect(exitCount > 0, "no vCPU exits for guest in /metrics: \(metrics)")
        // The console is a 16550 on ports, so port I/O exits are among the reasons.
        let ioExits = metrics.split(separator: "\n")
            .first { $0.hasPrefix(#"swifthv_vcpu_exits_by_reason_total{vm="guest",vcpu="0",reason="io"} "#) }
            .flatMap { $0.split(separator: " ").last }.flatMap { UInt64($0) } ?? 0
        #expect(ioExits > 0, "no port I/O exits by reason for guest in /metrics: \(metrics)")

        // Pause: the guest stops running (typed input is not echoed), a graceful stop is refused
        // (the paused guest cannot shut down), resume lets it run and the echo arrives.
        #expect(try hvd.client.pause("guest").state == .paused)
        #expect(try hvd.client.vm("guest").state == .paused)
        do {
            _ = try hvd.client.stop("guest", StopVMRequest(timeoutSeconds: 5))
            Issue.record("a graceful stop of a paused VM was accepted")
        } catch {
            #expect(APITests.apiError(error)?.status == 409)
        }
        #expect(throws: HVClientError.self) { _ = try hvd.client.pause("guest") }
        let pausedConsole = try hvd.client.openConsole("guest")  // the console of a paused VM attaches
        try pausedConsole.write(Array("paused-input-77\r".utf8))
        let whilePaused = readConsole(pausedConsole, until: "paused-input-77", timeout: 3)
        #expect(!whilePaused.contains("paused-input-77"), "a paused guest echoed input: \(whilePaused)")
        let resumed = try hvd.client.resume("guest")
        #expect(resumed.state == .running)
        #expect(resumed.workerPID == pid)
        let afterResume = try hvd.client.openConsole("guest")
        let echoedLater = readConsole(afterResume, until: "paused-input-77", timeout: 30)
        #expect(echoedLater.contains("paused-input-77"), "the resumed guest did not echo the input typed while paused")
        afterResume.close()
        #expect(try hvd.client.events(vm: "guest").contains { $0.state == .paused })
        console.close()

        // hvd dies hard; the VM does not.
        hvd.kill9()
        #expect(kill(pid, 0) == 0, "the worker died with hvd")
        #expect(try Inventory(path: hvd.stateDirectory + "/inventory.sqlite").integrityCheck() == "ok")
        hvd = try hvd.restarted()
        let reattached = try hvd.client.vm("guest")
        #expect(reattached.state == .running)
        #expect(reattached.workerPID == pid)
        let again = try hvd.client.openConsole("guest")
        let replay = readConsole(again, until: "Run /init as init process", timeout: 20)
        #expect(replay.contains("Run /init as init process"), "no console history after re-attach")
        again.close()

        // Graceful stop through the shutdown integration service.
        let stopped = try hvd.client.stop("guest", StopVMRequest(timeoutSeconds: 120))
        #expect(stopped.state == .off)
        #expect(stopped.stateReason == "the guest powered off")
        #expect(kill(pid, 0) != 0, "the worker outlived its VM")

        // Restart spawns a fresh worker; turn-off ends it without asking the guest.
        let running = try hvd.client.start("guest")
        let restarted = try hvd.client.restart("guest")
        #expect(restarted.state == .running)
        #expect(restarted.workerPID != running.workerPID)

        // Stop --force of a paused VM turns it off (Stop-VM on a paused VM, confirmed).
        #expect(try hvd.client.pause("guest").state == .paused)
        let forced = try hvd.client.stop("guest", StopVMRequest(timeoutSeconds: 5, force: true))
        #expect(forced.state == .off)
        #expect(try hvd.client.events(vm: "guest").contains { $0.message.contains("it was paused") })

        try hvd.client.deleteVM("guest")
        try hvd.client.deleteVM("victim")
        #expect(try hvd.client.listVMs().isEmpty)
        let states = try hvd.client.events().compactMap { $0.kind == "state" && $0.vmName == "guest" ? $0.state?.rawValue : nil }
        #expect(states.starts(with: ["Starting", "Running"]))
        #expect(states.contains("Stopping") && states.contains("Resetting"))
    }
}
