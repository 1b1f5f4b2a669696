import Foundation
import GuestMemory
import KVM
import Synchronization
import Testing

@testable import VMM

/// Save/restore on /dev/kvm: a guest counting in a register and in memory is saved, restored
/// into a fresh VM (new KVM VM, new vCPU threads, RAM read back from a sparse file) and must
/// continue counting from exactly where it was.
@Suite(.enabled(if: TinyGuest.usable, "needs /dev/kvm and binutils"), .serialized)
struct SavedStateLiveTests {
    func wait(_ seconds: Double = 20, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() && Date() < deadline { usleep(5_000) }
        return condition()
    }

    @Test func counterGuestContinuesAfterRestoreInAFreshVM() throws {
        let code = try TinyGuest.assemble("savecount")
        let kvm = try KVMSystem.open()
        let cpuid = HostCompatibility.resolve().guestCPUID(from: try kvm.supportedCPUID())
        let memory = try TinyGuest.memory(with: code)
        let first = try Machine(
            MachineConfiguration(memory: memory, vcpuCount: 1, boot: TinyGuest.longModeState, cpuid: cpuid), system: kvm)
        let ports = TestPorts()
        let (pio, mmio) = try buses(ports)
        try first.start(MachineIO(portIO: pio, mmio: mmio))
        #expect(wait { ports.values(at: 0xe3).count > 20 }, "the guest never counted")
        first.pause()
        let state = try first.captureState()
        let registerCount = ports.values(at: 0xe2).last ?? 0
        let memoryCount = ports.values(at: 0xe3).last ?? 0
        first.requestStop()
        #expect(first.waitUntilStopped() == .stopRequested)
        #expect(state.vcpus.count == 1)
        #expect(state.kernel.irqchips.count == 3)
        #expect(!state.vcpus[0].msrs.isEmpty)

        // RAM through a sparse file, as the saved-state file stores it.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("savecount-\(UUID().uuidString).ram").path
        defer { unlink(path) }
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(ftruncate(fd, off_t(memory.totalSize)) == 0)
        let stored = try memory.writeSparse(toFileDescriptor: fd, at: 0)
        #expect(stored > 0 && stored < memory.totalSize, "zero pages should be holes")

        guard let range = GuestAddressRange(start: GuestPhysicalAddress(0), length: TinyGuest.memorySize) else { return }
        let fresh = try GuestMemory.anonymous(regions: [range])
        try fresh.readSparse(fromFileDescriptor: fd, at: 0)
        // The guest may have been paused anywhere in its loop; the file must give back what RAM held.
        let savedCounter = try memory.load(UInt64.self, at: GuestPhysicalAddress(0x20000))
        #expect(try fresh.load(UInt64.self, at: GuestPhysicalAddress(0x20000)) == savedCounter)
        #expect(savedCounter == memoryCount || savedCounter == memoryCount + 1)

        var configuration = MachineConfiguration(memory: fresh, vcpuCount: 1, boot: TinyGuest.longModeState, cpuid: cpuid)
        configuration.restore = state
        let second = try Machine(configuration, system: kvm)
        let after = TestPorts()
        let (pio2, mmio2) = try buses(after)
        try second.start(MachineIO(portIO: pio2, mmio: mmio2))
        #expect(wait { after.values(at: 0xe3).count > 5 }, "the restored guest did not run")
        second.requestStop()
        _ = second.waitUntilStopped()
        #expect(after.values(at: 0xe2).first == registerCount + 1, "register count \(after.values(at: 0xe2).prefix(3)) after \(registerCount)")
        #expect(after.values(at: 0xe3).first == memoryCount + 1, "memory count \(after.values(at: 0xe3).prefix(3)) after \(memoryCount)")
    }

    @Test func captureNeedsAPausedMachine() throws {
        let machine = try TinyGuest.machine("counter")
        let (pio, mmio) = try buses(TestPorts())
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        defer {
            machine.requestStop()
            _ = machine.waitUntilStopped()
        }
        #expect(throws: VMMError.self) { try machine.captureState() }
    }

    @Test func restoreWithAnotherVCPUCountIsRefused() throws {
        let machine = try TinyGuest.machine("counter")
        let (pio, mmio) = try buses(TestPorts())
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        usleep(50_000)
        machine.pause()
        let state = try machine.captureState()
        machine.requestStop()
        _ = machine.waitUntilStopped()
        var configuration = machine.configuration
        configuration.vcpuCount = 2
        configuration.restore = state
        #expect(throws: VMMError.self) { try Machine(configuration) }
    }
}
