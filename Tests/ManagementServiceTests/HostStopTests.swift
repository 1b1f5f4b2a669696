import Configuration
import Foundation
import HVClient
import ManagementService
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The host shutting down (`POST /v1/host/stop-vms`) and starting again (a fresh `hvd`): each
/// VM's automatic stop action, and `StartIfRunning` afterwards.
@Suite(.serialized, .timeLimit(.minutes(10))) struct HostStopTests {
    /// Without KVM: nothing running is nothing to do; bad bodies are 400 and log nothing;
    /// `Save` is a stop action create and update accept and keep.
    @Test(.enabled(if: TestEnvironment.canRunHVD)) func requestsAndStopActionsWithoutGuests() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let kernel = try hvd.fakeKernel()
        let created = try client.createVM(CreateVMRequest(name: "keeper", boot: BootRequest(kernel: kernel), automaticStopAction: .save))
        #expect(created.automaticStopAction == .save)
        #expect(try client.updateVM("keeper", UpdateVMRequest(automaticStopAction: .turnOff)).automaticStopAction == .turnOff)
        #expect(try client.updateVM("keeper", UpdateVMRequest(automaticStopAction: .save)).automaticStopAction == .save)

        #expect(try client.stopVMs().vms.isEmpty, "an Off VM was acted on")
        let (empty, emptyJSON) = try rawRequest(hvd.socket, method: "POST", path: "/v1/host/stop-vms", body: nil)
        #expect(empty == 200 && (emptyJSON["vms"] as? [Any])?.isEmpty == true)
        let before = try client.events().count
        for body in [#"{"timeoutSeconds": -1}"#, #"{"timeoutSeconds": 3601}"#, #"{"timeout": 5}"#, "[]", "{"] {
            let (status, _) = try rawRequest(hvd.socket, method: "POST", path: "/v1/host/stop-vms", body: body)
            #expect(status == 400, "\(body)")
        }
        #expect(try client.events().count == before, "a refused host stop logged events")
        let (wrongMethod, _) = try rawRequest(hvd.socket, method: "GET", path: "/v1/host/stop-vms", body: nil)
        #expect(wrongMethod == 400)
        #expect(try client.vm("keeper").state == .off)
    }

    /// With the test kernel: a Save VM (no Hyper-V), a ShutDown VM (Hyper-V: the guest's
    /// shutdown service answers), a paused TurnOff VM, and a Save VM with a hot-plugged disk
    /// (cannot be saved: shut down instead, and the event log says why) → Saved, Off, Off, Off.
    /// Then a fresh `hvd`: the StartIfRunning VMs run again, the Saved one from its saved state.
    @Test(.enabled(if: TestEnvironment.canBootGuests)) func stopActionsThenStartIfRunning() throws {
        guard let images = TestEnvironment.guestImages else { return }
        let allowed = [images.kernel, images.initramfs].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        var hvd = try HVDProcess(extraAllowed: allowed)
        defer { hvd.terminate() }
        let boot = BootRequest(kernel: images.kernel, initrd: images.initramfs, cmdline: TestEnvironment.cmdline)
        func create(_ name: String, hyperV: Bool, stop: AutomaticStopAction, start: AutomaticStartAction) throws -> VMInfo {
            try hvd.client.createVM(
                CreateVMRequest(
                    name: name, memoryMiB: 128, boot: boot, hyperV: hyperV, automaticStartAction: start, automaticStopAction: stop))
        }
        let saver = try create("saver", hyperV: false, stop: .save, start: .startIfRunning)
        _ = try create("shutter", hyperV: true, stop: .shutDown, start: .startIfRunning)
        _ = try create("killer", hyperV: false, stop: .turnOff, start: .nothing)
        _ = try create("plugged", hyperV: true, stop: .save, start: .nothing)
        _ = try create("idle", hyperV: false, stop: .turnOff, start: .startIfRunning)  // never started
        let running = ["saver", "shutter", "killer", "plugged"]
        for name in running { #expect(try hvd.client.start(name).state == .running) }
        defer { for name in running { _ = try? hvd.client.turnOff(name) } }
        // Booted to /init: the Hyper-V guests' shutdown service is up by then.
        for name in running {
            let console = try hvd.client.openConsole(name)
            let log = VMLifecycleTests().readConsole(console, until: "Run /init as init process", timeout: 120)
            console.close()
            #expect(log.contains("Run /init as init process"), "\(name) did not boot: \(log.suffix(500))")
        }
        // A hot-plugged device makes the worker refuse a save.
        _ = try hvd.client.addDisk("plugged", DiskAttachment(path: try DeviceAPITests.rawImage(hvd, "plugged.img")))
        #expect(try hvd.client.pause("killer").state == .paused)

        let began = Date()
        let response = try hvd.client.stopVMs(StopVMsRequest(timeoutSeconds: 60))
        let seconds = Date().timeIntervalSince(began)
        print("HostStopTests: stop-vms took \(String(format: "%.1f", seconds)) s: \(response.vms.map { "\($0.name) \($0.actionApplied.rawValue) \($0.state) (\($0.reason))" })")
        #expect(response.vms.map(\.name) == ["killer", "plugged", "saver", "shutter"], "an Off VM was acted on, or one was left out")
        let outcome = Dictionary(response.vms.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(outcome["saver"]?.automaticStopAction == .save && outcome["saver"]?.actionApplied == .save)
        #expect(outcome["saver"]?.state == .saved && outcome["saver"]?.reason == "saved")
        #expect(outcome["shutter"]?.actionApplied == .shutDown && outcome["shutter"]?.state == .off)
        #expect(outcome["shutter"]?.reason == "shut down by the guest")
        #expect(outcome["killer"]?.actionApplied == .turnOff && outcome["killer"]?.state == .off)
        #expect(outcome["killer"]?.reason == "turned off")
        #expect(outcome["plugged"]?.automaticStopAction == .save && outcome["plugged"]?.actionApplied == .shutDown)
        #expect(outcome["plugged"]?.state == .off)
        #expect(outcome["plugged"]?.reason.hasPrefix("could not be saved (") == true)
        #expect(outcome["plugged"]?.reason.contains("hot-plug") == true, "\(outcome["plugged"]?.reason ?? "-")")
        #expect(seconds < 60, "the actions did not run in parallel, or the graceful stop timed out")

        #expect(FileManager.default.fileExists(atPath: hvd.stateDirectory + "/vms/\(saver.id)/saved-state.hvsave"))
        for name in running {
            let events = try hvd.client.events(vm: name).filter { $0.kind == "hostStop" }
            #expect(events.last?.message == "host stop: \(outcome[name]?.reason ?? "?")", "\(name): \(events.map(\.message))")
        }
        let pluggedEvents = try hvd.client.events(vm: "plugged").map(\.message)
        #expect(pluggedEvents.contains { $0.hasPrefix("host stop: plugged cannot be saved (") && $0.hasSuffix("; shutting it down instead") })
        #expect(try hvd.client.vm("idle").state == .off)
        let service = try hvd.client.events().filter { $0.vmName == nil }.map(\.message)
        #expect(service.contains("host stop: applying the automatic stop actions of 4 VM(s) (shutdown timeout 60 s)"))
        #expect(service.contains("host stop: done (1 Saved, 3 Off)"), "\(service)")

        // The host comes back: a fresh hvd on the same state directory.
        hvd.terminate()
        hvd = try hvd.restarted()
        #expect(hvd.wait(timeout: 60) { (try? hvd.client.vm("saver").state) == .running && (try? hvd.client.vm("shutter").state) == .running })
        #expect(try hvd.client.events(vm: "saver").contains { $0.message.contains("running from the saved state") })
        #expect(!FileManager.default.fileExists(atPath: hvd.stateDirectory + "/vms/\(saver.id)/saved-state.hvsave"))
        let restored = try hvd.client.openConsole("saver")
        let text = VMLifecycleTests().readConsole(restored, until: "Linux version", timeout: 3)
        restored.close()
        #expect(!text.contains("Linux version"), "the saved VM booted afresh instead of continuing")
        #expect(try hvd.client.vm("killer").state == .off, "StartIfRunning-less VM started")
        #expect(try hvd.client.vm("plugged").state == .off)
        #expect(try hvd.client.vm("idle").state == .off, "a VM that was not running started")
        #expect(try hvd.client.events(vm: "killer").last?.message == "host start: left Off (automatic start action Nothing)")

        // The mark is spent once hvd has started: StartIfRunning set now starts nothing later.
        _ = try hvd.client.updateVM("killer", UpdateVMRequest(automaticStartAction: .startIfRunning))
        for name in ["saver", "shutter"] { _ = try hvd.client.turnOff(name) }
        hvd.terminate()
        hvd = try hvd.restarted()
        usleep(500_000)
        let after = try hvd.client.listVMs()
        #expect(after.allSatisfy { $0.state == .off }, "\(after.map { "\($0.name) \($0.state)" })")
    }
}
