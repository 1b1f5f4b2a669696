import Synchronization
import Testing

@testable import Chipset

@Suite struct PCPlatformDevicesTests {
    /// One recording line per IRQ number.
    final class Lines: Sendable {
        let lines = Mutex<[UInt8: RecordingInterruptLine]>([:])
        func line(_ irq: UInt8) -> RecordingInterruptLine {
            lines.withLock { l in
                if let existing = l[irq] { return existing }
                let new = RecordingInterruptLine()
                l[irq] = new
                return new
            }
        }
    }

    @Test func wiredPerPlatformLayout() throws {
        let lines = Lines()
        let platform = RecordingPlatformControl()
        let out = RecordingSerialOutput()
        let devices = PCPlatformDevices(
            guestRAMSize: 256 << 20, interruptLine: { lines.line($0) }, platform: platform, serialOutput: out)
        let bus = PortIOBus(name: "io")
        try devices.attach(to: bus)

        // COM1 at 0x3F8 with IRQ 4 gated by OUT2.
        bus.write(IOPort(0x3F8), width: .byte, value: 0x41)
        #expect(out.written == [0x41])
        bus.write(IOPort(0x3FC), width: .byte, value: 0x08)
        bus.write(IOPort(0x3F9), width: .byte, value: 0x01)
        devices.com1.receive([0x0A])
        #expect(lines.line(4).isAsserted)
        // RTC at 0x70/0x71.
        bus.write(IOPort(0x70), width: .byte, value: 0x0D)
        #expect(bus.read(IOPort(0x71), width: .byte) == 0x80)
        // i8042 at 0x60/0x64, IRQ 1.
        bus.write(IOPort(0x64), width: .byte, value: 0xAA)
        #expect(bus.read(IOPort(0x60), width: .byte) == 0x55)
        devices.keyboardController.injectKeyboardBytes([0x1C])
        #expect(lines.line(1).isAsserted)
        // ACPI PM at 0x600, SCI on IRQ 9.
        #expect(bus.read(IOPort(0x604), width: .word) & 1 == 1)
        bus.write(IOPort(0x602), width: .word, value: 0x0100)
        devices.powerManagement.pressPowerButton()
        #expect(lines.line(9).isAsserted)
        // PCI at 0xCF8.
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0000)
        #expect(bus.read(IOPort(0xCFC), width: .dword) == 0x1237_8086)
        // POST code and the delay port are claimed quietly.
        bus.write(IOPort(0x80), width: .byte, value: 0x99)
        #expect(devices.postCode.lastCode == 0x99)
        #expect(bus.read(IOPort(0xED), width: .byte) == 0xFF)
        // Every reset path reaches the platform.
        bus.write(IOPort(0x64), width: .byte, value: 0xFE)
        bus.write(IOPort(0x608), width: .byte, value: 0x01)
        bus.write(IOPort(0x92), width: .byte, value: 0x01)
        bus.write(IOPort(0xCF9), width: .byte, value: 0x06)
        bus.write(IOPort(0x604), width: .word, value: 0x3400)
        #expect(platform.requests == [.reset, .reset, .reset, .reset, .powerOff])

        devices.reset()
        #expect(!lines.line(4).isAsserted)
        #expect(!lines.line(9).isAsserted)
    }
}

@Suite struct ResetLowersLinesTests {
    @Test func eachDeviceLowersItsLineOnReset() {
        let serialLine = RecordingInterruptLine()
        let uart = Serial16550(interrupt: serialLine, output: DiscardingSerialOutput())
        uart.outb(4, 0x08)
        uart.outb(1, 0x02)
        #expect(serialLine.isAsserted)
        uart.reset()
        #expect(!serialLine.isAsserted)

        let kbdLine = RecordingInterruptLine()
        let kbc = I8042(keyboardInterrupt: kbdLine, platform: RecordingPlatformControl())
        kbc.injectKeyboardBytes([0x1C])
        #expect(kbdLine.isAsserted)
        kbc.reset()
        #expect(!kbdLine.isAsserted)

        let rtcLine = RecordingInterruptLine()
        let clock = ManualClock(1_000_000)
        let rtc = CMOSRTC(guestRAMSize: 64 << 20, clock: clock, interrupt: rtcLine)
        rtc.write(0x0B, 0x12)
        clock.advance(1)
        rtc.serviceTimers()
        #expect(rtcLine.isAsserted)
        rtc.reset()
        #expect(!rtcLine.isAsserted)
    }
}
