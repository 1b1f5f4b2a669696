import Chipset
import Dispatch
import Foundation
import KVM
import Synchronization
import Testing

@testable import VMM

/// Live tests: tiny guests on /dev/kvm through the whole runtime (Machine, vCPU threads, exit
/// handler, buses, MSR filter, in-kernel irqchip).
@Suite(.enabled(if: TinyGuest.usable, "needs /dev/kvm and binutils"), .serialized)
struct TinyGuestTests {
    @Test
    func portMMIOMSRAndHook() throws {
        let machine = try TinyGuest.machine("ports")
        let ports = TestPorts { port, _ in if port == 0xe6 { machine.requestStop(.powerOff) } }
        let mmio = TestMMIO()
        let msrs = TestMSRs()
        let (pio, bus) = try buses(ports, mmio: mmio)
        let reason = try TinyGuest.run(
            machine, MachineIO(portIO: pio, mmio: bus, msrHandler: msrs, portHooks: [IOPort(0xe4): SumHook()]))
        #expect(reason == .powerOff)
        #expect(ports.values(at: 0xe0) == [0x42])
        #expect(ports.values(at: 0xe2) == [0x5a, 0x5566_7788])
        #expect(ports.values(at: 0xe3) == [0x1122_3344])
        #expect(ports.values(at: 0xe5) == [6])
        #expect(ports.values(at: 0xe4).isEmpty)  // the hook, not the bus, took it
        #expect(mmio.writes.withLock { $0.map(\.offset) } == [4])
        #expect(mmio.writes.withLock { $0.map(\.value) } == [0xcafe_babe])
        #expect(msrs.written.withLock { $0 } == [0x4000_0001: 0x1234_5678_0bad_f00d])
    }

    @Test
    func exceptionsGSIAndMSIWakeHaltedVCPU() throws {
        let machine = try TinyGuest.machine("interrupts")
        let ports = TestPorts { port, value in
            switch (port, value) {
            case (0xe0, 1):
                // Raise the GSI from another thread once the guest is halted.
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
                    machine.interruptLine(gsi: 20).pulse()
                }
            case (0xe7, 0x30):
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) {
                    machine.msi.send(vector: 0x31, toAPIC: 0)
                }
            case (0xe7, 0x31):
                machine.requestStop(.powerOff)
            default:
                break
            }
        }
        let (pio, mmio) = try buses(ports)
        let reason = try TinyGuest.run(machine, MachineIO(portIO: pio, mmio: mmio, msrHandler: TestMSRs()))
        #expect(reason == .powerOff)
        #expect(ports.values(at: 0xe7) == [3, 13, 0x30, 0x31])
        // Four OUTs to 0xe7 at least; the reasons add up to the total.
        let statistics = machine.statistics[0]
        #expect((statistics.exitsByReason["io"] ?? 0) >= 4)
        #expect(statistics.exitsByReason.values.reduce(0, +) == statistics.exits)
        if HostCompatibility.resolve().kind == .nestedPVM {
            // int3 and fwait went through the user-space fallback here.
            #expect(machine.statistics[0].emulatedInstructions == 2)
        }
    }

    @Test
    func bootCPUStartsAPWithINITAndSIPI() throws {
        let machine = try TinyGuest.machine("smp", vcpus: 2)
        let ports = TestPorts { port, value in if port == 0xe0 && value == 2 { machine.requestStop(.powerOff) } }
        let (pio, mmio) = try buses(ports)
        #expect(try TinyGuest.run(machine, MachineIO(portIO: pio, mmio: mmio)) == .powerOff)
        #expect(ports.values(at: 0xe0) == [2])
        #expect(machine.statistics.count == 2)
    }

    @Test
    func guestSeesHostCompatibleCPUID() throws {
        let machine = try TinyGuest.machine("cpuid")
        let ports = TestPorts { port, _ in if port == 0xe6 { machine.requestStop(.powerOff) } }
        let (pio, mmio) = try buses(ports)
        #expect(try TinyGuest.run(machine, MachineIO(portIO: pio, mmio: mmio)) == .powerOff)
        #expect(ports.values(at: 0xe2).count == 1)
        #expect(ports.values(at: 0xe2).first != 0x4b4d_564b)  // "KVMK"
        let leaf1 = UInt32(truncatingIfNeeded: ports.values(at: 0xe3).first ?? 0)
        #expect(leaf1 & HostCompatibility.hypervisorBit != 0)
        if HostCompatibility.resolve().kind == .nestedPVM {
            #expect(leaf1 & HostCompatibility.cx16Bit == 0)
        }
    }

    @Test
    func stacAndClacSetAndClearAC() throws {
        let machine = try TinyGuest.machine("smap")
        let ports = TestPorts { port, _ in if port == 0xe6 { machine.requestStop(.powerOff) } }
        let (pio, mmio) = try buses(ports)
        #expect(try TinyGuest.run(machine, MachineIO(portIO: pio, mmio: mmio)) == .powerOff)
        let afterStac = try #require(ports.values(at: 0xe2).first)
        let afterClac = try #require(ports.values(at: 0xe3).first)
        guard afterStac != 0xffff_ffff else {
            print("VMMTests: guest CPUID has no SMAP; stac/clac not exercised")
            return
        }
        #expect(afterStac & EmulationFallback.rflagsAC != 0)
        #expect(afterClac & EmulationFallback.rflagsAC == 0)
    }

    @Test
    func tripleFaultResets() throws {
        let machine = try TinyGuest.machine("triplefault")
        let (pio, mmio) = try buses(TestPorts())
        #expect(try TinyGuest.run(machine, MachineIO(portIO: pio, mmio: mmio)) == .reset)
    }

    /// With 2 vCPUs the boot CPU spins and the AP waits for a SIPI that never comes.
    @Test(arguments: [1, 2])
    func hostStopKicksRunningAndWaitingVCPUs(vcpus: Int) throws {
        let machine = try TinyGuest.machine("spin", vcpus: vcpus)
        let running = Mutex(false)
        let ports = TestPorts { port, _ in if port == 0xe0 { running.withLock { $0 = true } } }
        let (pio, mmio) = try buses(ports)
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        let deadline = Date().addingTimeInterval(20)
        while !running.withLock({ $0 }) && Date() < deadline { usleep(10_000) }
        #expect(running.withLock { $0 })
        usleep(50_000)
        machine.requestStop()
        #expect(machine.waitUntilStopped() == .stopRequested)
    }

    @Test func pauseStopsProgressAndResumeContinues() throws {
        let machine = try TinyGuest.machine("counter")
        let count = Mutex(0)
        let ports = TestPorts { port, _ in if port == 0xe1 { count.withLock { $0 += 1 } } }
        let (pio, mmio) = try buses(ports)
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        defer {
            machine.requestStop()
            _ = machine.waitUntilStopped()
        }
        func wait(until condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(20)
            while !condition() && Date() < deadline { usleep(10_000) }
            return condition()
        }
        #expect(wait { count.withLock { $0 } > 5 }, "the guest never ran")
        machine.pause()
        #expect(machine.isPaused)
        usleep(200_000)  // let the in-flight exit finish
        let atPause = count.withLock { $0 }
        usleep(300_000)
        #expect(count.withLock { $0 } == atPause, "the guest ran while paused")
        machine.resume()
        #expect(!machine.isPaused)
        #expect(wait { count.withLock { $0 } > atPause + 5 }, "the guest did not continue after resume")
    }

    @Test func stopWhilePausedFinishes() throws {
        let machine = try TinyGuest.machine("counter")
        let (pio, mmio) = try buses(TestPorts())
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        usleep(100_000)
        machine.pause()
        usleep(100_000)
        machine.requestStop()
        #expect(machine.waitUntilStopped() == .stopRequested)
    }

    @Test func asyncWaitForStop() async throws {
        let machine = try TinyGuest.machine("triplefault")
        let (pio, mmio) = try buses(TestPorts())
        try machine.start(MachineIO(portIO: pio, mmio: mmio))
        #expect(await machine.waitForStop() == .reset)
    }

    @Test func startingTwiceIsRefused() throws {
        let machine = try TinyGuest.machine("triplefault")
        let (pio, mmio) = try buses(TestPorts())
        let io = MachineIO(portIO: pio, mmio: mmio)
        try machine.start(io)
        #expect(throws: VMMError.self) { try machine.start(io) }
        _ = machine.waitUntilStopped()
    }
}
