import Synchronization
import Testing

@testable import Chipset

/// A clock the test moves by hand.
final class ManualClock: RTCClock {
    private let current: Mutex<RTCTimestamp>
    init(_ seconds: Int64) { current = Mutex(RTCTimestamp(seconds: seconds)) }
    func now() -> RTCTimestamp { current.withLock { $0 } }
    func advance(_ seconds: Int64) { current.withLock { $0.seconds += seconds } }
}

extension CMOSRTC {
    func read(_ index: UInt8) -> UInt8 {
        outb(0, index)
        return inb(1)
    }
    func write(_ index: UInt8, _ value: UInt8) {
        outb(0, index)
        outb(1, value)
    }
}

@Suite struct CMOSRTCTests {
    // 2024-02-29 23:59:58 UTC, a Thursday.
    static let leapSecondsBeforeMidnight: Int64 = 1_709_251_198
    let clock = ManualClock(CMOSRTCTests.leapSecondsBeforeMidnight)
    let irq = RecordingInterruptLine()
    let rtc: CMOSRTC

    init() { rtc = CMOSRTC(guestRAMSize: 512 << 20, clock: clock, interrupt: irq) }

    @Test func civilTimeRoundTrips() {
        for seconds: Int64 in [0, 951_782_400, 1_709_251_198, 4_102_444_800, 253_402_300_799] {
            #expect(CivilTime(unixSeconds: seconds).unixSeconds == seconds)
        }
        let t = CivilTime(unixSeconds: 1_709_251_198)
        #expect(t == CivilTime(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 58))
        #expect(t.weekday == 5)  // Thursday (1 = Sunday)
        #expect(CivilTime(unixSeconds: 0).weekday == 5)
    }

    @Test func statusRegistersAtPowerOn() {
        #expect(rtc.read(0x0A) == 0x26)  // UIP clear, 32.768 kHz, 1024 Hz
        #expect(rtc.read(0x0B) == 0x02)  // 24-hour BCD
        #expect(rtc.read(0x0D) == 0x80)  // VRT; bit 6 clear as rtc-cmos requires
        #expect(rtc.read(0x0C) & 0x80 == 0)
    }

    @Test func readsBCDTime() {
        #expect(rtc.read(0x00) == 0x58)
        #expect(rtc.read(0x02) == 0x59)
        #expect(rtc.read(0x04) == 0x23)
        #expect(rtc.read(0x06) == 0x05)
        #expect(rtc.read(0x07) == 0x29)
        #expect(rtc.read(0x08) == 0x02)
        #expect(rtc.read(0x09) == 0x24)
        #expect(rtc.read(0x32) == 0x20)
        clock.advance(3)
        #expect(rtc.read(0x07) == 0x01)
        #expect(rtc.read(0x08) == 0x03)
        #expect(rtc.read(0x00) == 0x01)
    }

    @Test func binaryAnd12HourModes() {
        rtc.write(0x0B, 0x04)  // binary, 12-hour
        #expect(rtc.read(0x00) == 58)
        #expect(rtc.read(0x04) == 0x80 | 11)  // 11 PM
        rtc.write(0x0B, 0x00)  // BCD, 12-hour
        #expect(rtc.read(0x04) == 0x80 | 0x11)
        clock.advance(2)  // 00:00 -> 12 AM
        #expect(rtc.read(0x04) == 0x12)
    }

    /// Linux mc146818_get_time(): UIP check, time reads, UIP re-check, century.
    @Test func linuxGetTimeSequence() {
        #expect(rtc.read(0x0A) & 0x80 == 0)
        let fields = [0x00, 0x02, 0x04, 0x07, 0x08, 0x09].map { rtc.read(UInt8($0)) }
        let century = rtc.read(0x32)
        let control = rtc.read(0x0B)
        #expect(rtc.read(0x0A) & 0x80 == 0)
        #expect(control & 0x04 == 0)  // BCD, so Linux converts
        #expect(fields == [0x58, 0x59, 0x23, 0x29, 0x02, 0x24])
        #expect(century == 0x20)
    }

    /// Linux mc146818_set_time(): SET, divider reset, fields, then restore B and A.
    @Test func linuxSetTimeSequence() {
        let saveControl = rtc.read(0x0B)
        rtc.write(0x0B, saveControl | 0x80)
        let saveFreq = rtc.read(0x0A)
        rtc.write(0x0A, saveFreq | 0x70)
        for (index, value) in [(0x09, 0x31), (0x08, 0x12), (0x07, 0x25), (0x04, 0x08), (0x02, 0x30), (0x00, 0x15)]
        {
            rtc.write(UInt8(index), UInt8(value))
        }
        rtc.write(0x32, 0x20)
        // While SET is on, the clock is frozen at what was written.
        clock.advance(10)
        #expect(rtc.read(0x00) == 0x15)
        rtc.write(0x0B, saveControl)
        rtc.write(0x0A, saveFreq)
        #expect(rtc.guestTime == CivilTime(year: 2031, month: 12, day: 25, hour: 8, minute: 30, second: 15).unixSeconds)
        clock.advance(5)
        #expect(rtc.read(0x00) == 0x20)
        #expect(rtc.read(0x0A) == 0x26)
    }

    @Test func writeWithoutSETAdjustsOffset() {
        rtc.write(0x09, 0x99)
        rtc.write(0x32, 0x19)
        #expect(rtc.read(0x09) == 0x99)
        #expect(rtc.read(0x32) == 0x19)
        #expect(CivilTime(unixSeconds: rtc.guestTime).year == 1999)
        // The offset survives a reset.
        rtc.reset()
        #expect(rtc.read(0x09) == 0x99)
    }

    @Test func hostileTimeWritesAreClamped() {
        for index in [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32] as [UInt8] { rtc.write(index, 0xFF) }
        let t = CivilTime(unixSeconds: rtc.guestTime)
        #expect((1...12).contains(t.month))
        #expect((0...9999).contains(t.year))
        rtc.write(0x0B, 0x06)
        for index in [0x00, 0x04, 0x07, 0x08] as [UInt8] { rtc.write(index, 0xEE) }
        #expect(rtc.read(0x00) == 59)
    }

    @Test func memorySizeBytes() {
        let ram = CMOSRTC.initialRAM(guestRAMSize: 4 << 30)  // 3 GiB low + 1 GiB high
        func word(_ i: Int) -> Int { Int(ram[i]) | Int(ram[i + 1]) << 8 }
        #expect(word(0x15) == 640)
        #expect(word(0x17) == 0xFFFF)
        #expect(word(0x30) == 0xFFFF)
        #expect(word(0x34) == (0xC000_0000 - 0x100_0000) / 65536)
        #expect(Int(ram[0x5B]) | Int(ram[0x5C]) << 8 | Int(ram[0x5D]) << 16 == (1 << 30) / 65536)
        let small = CMOSRTC.initialRAM(guestRAMSize: 32 << 20)
        #expect(Int(small[0x17]) | Int(small[0x18]) << 8 == 31 * 1024)
        #expect(Int(small[0x34]) | Int(small[0x35]) << 8 == 256)
        #expect(small[0x5B] == 0 && small[0x5C] == 0 && small[0x5D] == 0)
        let sum = small[0x10...0x2D].reduce(0) { $0 + Int($1) }
        #expect(Int(small[0x2E]) << 8 | Int(small[0x2F]) == sum)
        // Through the ports too.
        #expect(rtc.read(0x34) == UInt8(((512 - 16) * 16) & 0xFF))
    }

    @Test func nmiMaskAndIndexPort() {
        rtc.outb(0, 0x8F)
        #expect(rtc.isNMIMasked)
        #expect(rtc.inb(0) == 0xFF)
        rtc.outb(1, 0xA5)  // index 0x0F, shutdown status byte
        rtc.outb(0, 0x0F)
        #expect(!rtc.isNMIMasked)
        #expect(rtc.inb(1) == 0xA5)
        // A word write sets index and data together.
        rtc.ioWrite(offset: 0, width: .word, value: 0x5A40)
        #expect(rtc.read(0x40) == 0x5A)
    }

    @Test func registerCReadClearsAndUpdateInterrupt() {
        _ = rtc.read(0x0C)
        rtc.write(0x0B, 0x12)  // UIE
        #expect(!irq.isAsserted)
        clock.advance(1)
        rtc.serviceTimers()
        #expect(irq.isAsserted)
        let c = rtc.read(0x0C)
        #expect(c & 0x90 == 0x90)
        #expect(!irq.isAsserted)
        #expect(rtc.read(0x0C) == 0)
    }

    @Test func alarmInterrupt() {
        _ = rtc.read(0x0C)
        rtc.write(0x01, 0x00)
        rtc.write(0x03, 0x00)
        rtc.write(0x05, 0xC0)  // any hour
        rtc.write(0x0B, 0x22)  // AIE
        clock.advance(1)
        rtc.serviceTimers()
        #expect(!irq.isAsserted)
        #expect(rtc.read(0x0C) & 0x20 == 0)
        clock.advance(1)  // 00:00:00
        rtc.serviceTimers()
        #expect(irq.isAsserted)
        #expect(rtc.read(0x0C) & 0xA0 == 0xA0)
        #expect(!irq.isAsserted)
    }

    @Test func hostileAccesses() {
        var random = TestRandom(seed: 99)
        for _ in 0..<20_000 {
            let width = allWidths[random.next(below: allWidths.count)]
            let offset = UInt16(random.next(below: 4))
            if random.next(below: 2) == 0 {
                _ = rtc.ioRead(offset: offset, width: width)
            } else {
                rtc.ioWrite(offset: offset, width: width, value: random.next())
            }
            if random.next(below: 100) == 0 { clock.advance(Int64(random.next(below: 100_000))) }
        }
        #expect(rtc.ioRead(offset: 1, width: .dword) & 0xFFFF_FF00 == 0xFFFF_FF00)
        #expect(rtc.read(0x0D) == 0x80)
    }
}
