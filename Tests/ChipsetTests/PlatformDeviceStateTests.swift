import Testing

@testable import Chipset

/// Saved state of the platform devices: what a device captures, a fresh device restores, and
/// its interrupt output follows.
@Suite struct PlatformDeviceStateTests {
    @Test func serialRegistersFIFOAndInterruptSurviveARestore() {
        let irq = RecordingInterruptLine()
        let uart = Serial16550(interrupt: irq, output: RecordingSerialOutput(), hostBufferCapacity: 64)
        uart.outb(3, 0x80)  // DLAB
        uart.outb(0, 0x01)  // 115200 baud
        uart.outb(3, 0x03)  // 8N1
        uart.outb(2, 0x01)  // FIFO on
        uart.outb(4, 0x08)  // OUT2
        uart.outb(1, 0x01)  // ERBFI
        uart.outb(7, 0x42)
        uart.receive(Array("hello".utf8))
        #expect(irq.isAsserted)
        let saved = uart.captureState()

        let irq2 = RecordingInterruptLine()
        let fresh = Serial16550(interrupt: irq2, output: RecordingSerialOutput(), hostBufferCapacity: 64)
        fresh.restoreState(saved)
        #expect(fresh.captureState() == saved)
        #expect(irq2.isAsserted, "pending receive data must raise IRQ 4 again after a restore")
        #expect(fresh.inb(7) == 0x42)
        #expect(fresh.inb(3) == 0x03)
        var received: [UInt8] = []
        while fresh.inb(5) & 0x01 != 0 { received.append(fresh.inb(0)) }
        #expect(received == Array("hello".utf8))
        #expect(!irq2.isAsserted)
    }

    @Test func hostileSerialStateIsBounded() {
        let uart = Serial16550(interrupt: RecordingInterruptLine(), output: RecordingSerialOutput(), hostBufferCapacity: 8)
        var saved = uart.captureState()
        saved.rxFIFO = Array(repeating: SerialCharacter(byte: 1, isBreak: false), count: 10_000)
        saved.hostRX = Array(repeating: SerialCharacter(byte: 2, isBreak: false), count: 10_000)
        uart.restoreState(saved)
        let after = uart.captureState()
        #expect(after.rxFIFO.count <= 16)
        #expect(after.hostRX.count <= 8)
    }

    @Test func rtcKeepsCMOSAndGuestTimeOffset() throws {
        let clock = ManualClock(CMOSRTCTests.leapSecondsBeforeMidnight)
        let rtc = CMOSRTC(guestRAMSize: 64 << 20, clock: clock, interrupt: RecordingInterruptLine())
        rtc.write(0x0B, 0x82)  // SET, 24-hour BCD
        rtc.write(0x04, 0x05)  // hours 05
        rtc.write(0x02, 0x10)  // minutes 10
        rtc.write(0x0B, 0x02)
        rtc.write(0x40, 0x99)  // a CMOS byte
        let saved = rtc.captureState()

        let later = ManualClock(CMOSRTCTests.leapSecondsBeforeMidnight + 60)
        let fresh = CMOSRTC(guestRAMSize: 64 << 20, clock: later, interrupt: RecordingInterruptLine())
        try fresh.restoreState(saved)
        #expect(fresh.read(0x40) == 0x99)
        #expect(fresh.read(0x04) == 0x05, "the guest's time offset is kept")
        #expect(fresh.read(0x02) == 0x11, "a minute later on the host is a minute later in the guest")
        var bad = saved
        bad.ram = [1, 2, 3]
        #expect(throws: ChipsetStateError.self) { try fresh.restoreState(bad) }
    }

    @Test func i8042KeepsCTRAndQueuedBytes() throws {
        let irq1 = RecordingInterruptLine()
        let kbc = I8042(keyboardInterrupt: irq1, auxInterrupt: nil, platform: RecordingPlatformControl())
        kbc.commandPort.outb(0, 0x60)  // write CTR
        kbc.dataPort.outb(0, 0x47)  // KBDINT on, translate
        kbc.dataPort.outb(0, 0xF2)  // keyboard: identify (answers ACK + ID bytes)
        let saved = kbc.captureState()
        #expect(!saved.queue.isEmpty)
        let irq2 = RecordingInterruptLine()
        let fresh = I8042(keyboardInterrupt: irq2, auxInterrupt: nil, platform: RecordingPlatformControl())
        try fresh.restoreState(saved)
        #expect(fresh.captureState() == saved)
        #expect(irq2.isAsserted == irq1.isAsserted)
        #expect(fresh.dataPort.inb(0) == kbc.dataPort.inb(0))
        var bad = saved
        bad.ram = []
        #expect(throws: ChipsetStateError.self) { try fresh.restoreState(bad) }
    }

    @Test func acpiAndPCIRoundTrip() {
        let pm = ACPIPowerManagement(sci: RecordingInterruptLine(), platform: RecordingPlatformControl())
        var pmState = pm.captureState()
        pmState.enable = 0x0100
        pmState.control = 0x0001
        pm.restoreState(pmState)
        #expect(pm.captureState() == pmState)
        let pci = PCIHostBridge(platform: RecordingPlatformControl())
        pci.restoreState(PCIHostBridgeState(address: 0x8000_0010, resetControl: 0x02))
        #expect(pci.captureState() == PCIHostBridgeState(address: 0x8000_0010, resetControl: 0x02))
        #expect(pci.ioRead(offset: 0, width: .dword) == 0x8000_0010)
    }
}
