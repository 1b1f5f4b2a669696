import Testing

@testable import Chipset

@Suite struct ACPIPowerManagementTests {
    let sci = RecordingInterruptLine()
    let platform = RecordingPlatformControl()
    let pm: ACPIPowerManagement
    let bus = PortIOBus(name: "io")

    init() throws {
        pm = ACPIPowerManagement(sci: sci, platform: platform)
        try pm.attach(to: bus)
    }

    func inw(_ port: UInt16) -> UInt16 { UInt16(bus.read(IOPort(port), width: .word)) }
    func outw(_ port: UInt16, _ value: UInt16) { bus.write(IOPort(port), width: .word, value: UInt64(value)) }

    @Test func sciEnabledAlwaysReadsOne() {
        #expect(inw(0x604) & 0x0001 == 1)
        outw(0x604, 0)
        #expect(inw(0x604) & 0x0001 == 1)
    }

    /// ACPICA acpi_hw_legacy_sleep(S5): clear WAK_STS, write SLP_TYP, then SLP_TYP|SLP_EN.
    @Test func linuxS5SequencePowersOff() {
        outw(0x600, 0x8000)
        var control = inw(0x604)
        control &= ~UInt16(0x3C00)
        control |= 5 << 10
        outw(0x604, control)
        #expect(platform.requests.isEmpty)
        outw(0x604, control | 0x2000)
        #expect(platform.requests == [.powerOff])
        // SLP_EN reads back 0; SLP_TYP is kept.
        #expect(inw(0x604) & 0x2000 == 0)
        #expect(inw(0x604) & 0x1C00 == 0x1400)
    }

    @Test func dwordAccessToControlBlockPowersOff() {
        bus.write(IOPort(0x604), width: .dword, value: 0x0000_3401)
        #expect(platform.requests == [.powerOff])
    }

    @Test func otherSleepTypesAreRefusedWithImmediateWake() {
        outw(0x600, 0xFFFF)
        outw(0x604, (3 << 10) | 0x2000)  // S3
        #expect(platform.requests.isEmpty)
        #expect(inw(0x600) & 0x8000 != 0)  // WAK_STS: the guest "wakes" at once
        outw(0x600, 0x8000)
        #expect(inw(0x600) & 0x8000 == 0)
    }

    @Test func resetRegister() {
        bus.write(IOPort(0x608), width: .byte, value: 0x02)
        #expect(platform.requests.isEmpty)
        bus.write(IOPort(0x608), width: .byte, value: 0x01)
        #expect(platform.requests == [.reset])
    }

    @Test func powerButtonRaisesSCIWhenEnabled() {
        pm.pressPowerButton()
        #expect(!sci.isAsserted)
        #expect(inw(0x600) & 0x0100 != 0)
        outw(0x602, 0x0100)
        #expect(sci.isAsserted)
        #expect(inw(0x602) == 0x0100)
        outw(0x600, 0x0100)  // write one to clear
        #expect(!sci.isAsserted)
        #expect(inw(0x600) & 0x0100 == 0)
    }

    @Test func statusBitsAreWriteOneToClearPerByte() {
        pm.pressPowerButton()
        bus.write(IOPort(0x600), width: .byte, value: 0xFF)  // low byte only
        #expect(inw(0x600) & 0x0100 != 0)
        bus.write(IOPort(0x601), width: .byte, value: 0x01)
        #expect(inw(0x600) & 0x0100 == 0)
    }

    @Test func hostileAccessesNeverCrash() {
        var random = TestRandom(seed: 5)
        for _ in 0..<20_000 {
            let port = IOPort(0x600 + UInt16(random.next(below: 9)))
            let width = allWidths[random.next(below: allWidths.count)]
            if random.next(below: 2) == 0 {
                _ = bus.read(port, width: width)
            } else {
                bus.write(port, width: width, value: random.next())
            }
        }
        #expect(bus.read(IOPort(0x606), width: .word) == 0xFFFF)
        #expect(bus.read(IOPort(0x608), width: .dword) == 0xFFFF_FF00)
    }
}
