import Configuration
import Foundation
import HVClient
import ManagementService
import Synchronization
import Testing

@Suite struct InventoryTests {
    func record(_ name: String) -> VMRecord {
        VMRecord(
            id: UUID().uuidString.lowercased(), name: name, state: .off, stateReason: nil, createdAt: Date(),
            configuration: VMConfiguration(name: name, boot: BootSource(kernel: "/k")), automaticStartAction: .nothing,
            automaticStopAction: .shutDown, recoveryAction: .none, workerPID: nil)
    }

    @Test func migratesAndPersistsAcrossReopen() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/inventory.sqlite"
        let vm = record("alpha")
        do {
            let inventory = try Inventory(path: path)
            #expect(try inventory.appliedMigrations() == ["v1: vm and event", "v2: vm.stoppedByHost"])
            _ = try inventory.insert(vm, event: "created")
        }
        let reopened = try Inventory(path: path)
        #expect(try reopened.appliedMigrations() == ["v1: vm and event", "v2: vm.stoppedByHost"])
        #expect(try reopened.vm(idOrName: "ALPHA")?.id == vm.id)
        #expect(try reopened.vm(idOrName: vm.id)?.configuration == vm.configuration)
        #expect(try reopened.events(vmID: vm.id).map(\.kind) == ["created"])
        #expect(try reopened.integrityCheck() == "ok")
    }

    @Test func duplicateNamesAreRefusedCaseInsensitively() throws {
        let scratch = try ScratchDirectory()
        let inventory = try Inventory(path: scratch.path + "/inventory.sqlite")
        _ = try inventory.insert(record("web"), event: "created")
        #expect(throws: InventoryError.duplicateName("Web")) { _ = try inventory.insert(record("Web"), event: "created") }
        #expect(try inventory.allVMs().count == 1)
        #expect(try inventory.events().count == 1, "a refused insert must not log an event")
    }

    @Test func transitionsAreConditional() throws {
        let scratch = try ScratchDirectory()
        let inventory = try Inventory(path: scratch.path + "/inventory.sqlite")
        let vm = record("db")
        _ = try inventory.insert(vm, event: "created")
        #expect(try inventory.transition(id: vm.id, from: [.running], to: .stopping, reason: nil, workerPID: nil, message: "x") == nil)
        let moved = try inventory.transition(id: vm.id, from: [.off], to: .starting, reason: nil, workerPID: .some(42), message: "starting")
        #expect(moved?.0.state == .starting)
        #expect(moved?.0.workerPID == 42)
        #expect(moved?.1.state == .starting)
        #expect(try inventory.vm(id: vm.id)?.state == .starting)
    }

    /// The host stop's mark: only on an Off or Saved VM, kept by configuration updates and a
    /// reopen, cleared by any state change.
    @Test func stoppedByHostMarkLastsUntilTheNextStateChange() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/inventory.sqlite"
        var vm = record("web")
        do {
            let inventory = try Inventory(path: path)
            _ = try inventory.insert(vm, event: "created")
            _ = try inventory.transition(id: vm.id, from: nil, to: .running, reason: nil, workerPID: .some(7), message: "running")
            #expect(try inventory.markStoppedByHost(id: vm.id, true, message: "host stop: x") == nil, "a Running VM was marked")
            _ = try inventory.transition(id: vm.id, from: nil, to: .saved, reason: nil, workerPID: .some(nil), message: "saved")
            let marked = try inventory.markStoppedByHost(id: vm.id, true, message: "host stop: saved")
            #expect(marked?.0.stoppedByHost == true && marked?.1.kind == "hostStop" && marked?.1.state == .saved)
            vm = try #require(try inventory.vm(id: vm.id))
            vm.configuration.notes = "kept"
            _ = try inventory.update(vm, kind: "updated", event: "notes")
        }
        let inventory = try Inventory(path: path)
        #expect(try inventory.vm(id: vm.id)?.stoppedByHost == true)
        #expect(try inventory.markStoppedByHost(id: "no-such-vm", true, message: "x") == nil)
        let started = try inventory.transition(id: vm.id, from: [.saved], to: .starting, reason: nil, workerPID: nil, message: "starting")
        #expect(started?.0.stoppedByHost == false)
        #expect(try inventory.vm(id: vm.id)?.stoppedByHost == false)
    }

    /// Kill -9 `hvd` while clients create VMs as fast as they can: the inventory stays sound,
    /// every VM row has its "created" event (same transaction), and every acknowledged create is there.
    @Test(.enabled(if: TestEnvironment.canRunHVD)) func killingHVDMidWriteLeavesAConsistentInventory() throws {
        let hvd = try HVDProcess()
        let kernel = try hvd.fakeKernel()
        let acknowledged = Mutex<Set<String>>([])
        let client = hvd.client
        let done = DispatchGroup()
        for worker in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                for i in 0..<10_000 {
                    guard let vm = try? client.createVM(CreateVMRequest(name: "vm-\(worker)-\(i)", boot: BootRequest(kernel: kernel))) else { return }
                    acknowledged.withLock { _ = $0.insert(vm.id) }
                }
            }.start()
        }
        usleep(700_000)
        hvd.kill9()
        done.wait()
        let inventory = try Inventory(path: hvd.stateDirectory + "/inventory.sqlite")
        #expect(try inventory.integrityCheck() == "ok")
        let vms = try inventory.allVMs()
        let ids = Set(vms.map(\.id))
        #expect(!vms.isEmpty, "no create finished before the kill")
        #expect(acknowledged.withLock { $0.isSubset(of: ids) }, "an acknowledged create was lost")
        let created = Set(try inventory.events(limit: 100_000).filter { $0.kind == "created" }.compactMap(\.vmID))
        #expect(created == ids, "VM rows and their created events disagree")
        // And a restarted hvd serves the same inventory.
        let again = try hvd.restarted()
        defer { again.terminate() }
        #expect(try again.client.listVMs().count == vms.count)
    }
}
