import Logging
import Synchronization

/// The MC146818A-compatible CMOS real-time clock and its 128 bytes of CMOS RAM at ports
/// 0x70 (index, bit 7 = NMI mask) and 0x71 (data).
///
/// Time comes from an injected clock (the host wall clock by default) plus an offset the
/// guest sets by writing the time registers (with or without register B's SET bit, which
/// freezes the visible time until it is cleared, as Linux's `mc146818_set_time` does).
/// Register A reads the 32.768 kHz divider with UIP clear, so Linux never waits on an update;
/// register D reads VRT (valid). BCD/binary and 12/24-hour formats follow register B.
///
/// Interrupts (IRQ 8): update-ended and alarm flags are computed whenever the guest touches
/// the RTC or the VMM calls `serviceTimers()`; the line is high while register C's IRQF is
/// set and drops when the guest reads C. The periodic interrupt is not modelled: PF never
/// sets. A VMM that wants update/alarm interrupts calls `serviceTimers()` from a host timer.
///
/// CMOS RAM holds the PC memory-size bytes derived from the guest RAM size (with RAM above
/// 3 GiB relocated to 4 GiB, per the platform layout) and the century byte at 0x32.
///
/// ## Concurrency model
/// One `Mutex` guards all state; vCPU threads and the timer thread both enter through it.
public final class CMOSRTC: PortIODevice {
    struct State {
        var index: UInt8 = 0
        var nmiMasked = false
        var ram = [UInt8](repeating: 0, count: 128)
        var registerC: UInt8 = 0
        /// Guest time minus host time, in seconds.
        var offset: Int64 = 0
        /// The time as the guest is setting it, while register B's SET bit is on.
        var staged: CivilTime?
        /// Guest second at which update/alarm flags were last evaluated.
        var lastEvaluatedSecond: Int64 = 0
        var irqAsserted = false
    }

    public let name = "rtc"
    /// Ports decoded from the base: 0x70 (index) and 0x71 (data).
    public static let portCount: UInt16 = 2
    let state: Mutex<State>
    private let clock: any RTCClock
    private let interrupt: (any InterruptLine)?
    private let logger: Logger
    private let initialRAM: [UInt8]

    /// Start of the MMIO hole: RAM beyond it is relocated above 4 GiB (platform layout).
    static let lowRAMLimit: UInt64 = 0xC000_0000

    /// - Parameters:
    ///   - guestRAMSize: bytes of guest RAM, for the CMOS memory-size bytes.
    ///   - clock: the wall clock the RTC runs from.
    ///   - interrupt: IRQ 8, or nil to never raise one.
    public init(
        guestRAMSize: UInt64, clock: any RTCClock = HostWallClock(), interrupt: (any InterruptLine)? = nil,
        logger: Logger = Logger(label: "swifthv.chipset.rtc")
    ) {
        self.clock = clock
        self.interrupt = interrupt
        self.logger = logger
        self.initialRAM = CMOSRTC.initialRAM(guestRAMSize: guestRAMSize)
        var s = State()
        s.ram = initialRAM
        s.lastEvaluatedSecond = clock.now().seconds
        self.state = Mutex(s)
    }

    /// The CMOS RAM contents at power-on for a guest with `guestRAMSize` bytes of RAM.
    static func initialRAM(guestRAMSize: UInt64) -> [UInt8] {
        var ram = [UInt8](repeating: 0, count: 128)
        ram[Int(Index.registerA)] = RegisterA.powerOn
        ram[Int(Index.registerB)] = RegisterB.powerOn
        ram[Int(Index.registerD)] = RegisterD.VRT
        func store16(_ value: UInt64, at index: UInt8) {
            let v = min(value, 0xFFFF)
            ram[Int(index)] = UInt8(v & 0xFF)
            ram[Int(index) + 1] = UInt8(v >> 8)
        }
        let mib: UInt64 = 1 << 20
        let lowRAM = min(guestRAMSize, lowRAMLimit)
        let highRAM = guestRAMSize - lowRAM
        store16(640, at: Index.baseMemoryLow)
        let extendedKiB = lowRAM > mib ? (lowRAM - mib) / 1024 : 0
        store16(extendedKiB, at: Index.extendedMemoryLow)
        store16(extendedKiB, at: Index.extendedMemoryCopyLow)
        store16(lowRAM > 16 * mib ? (lowRAM - 16 * mib) / 65_536 : 0, at: Index.memoryAbove16MLow)
        let above4G = min(highRAM / 65_536, 0xFF_FFFF)
        for i in 0..<3 { ram[Int(Index.memoryAbove4G) + i] = UInt8((above4G >> (8 * UInt64(i))) & 0xFF) }
        let checksum = ram[0x10...0x2D].reduce(UInt16(0)) { $0 &+ UInt16($1) }
        ram[Int(Index.checksumHigh)] = UInt8(checksum >> 8)
        ram[Int(Index.checksumLow)] = UInt8(checksum & 0xFF)
        return ram
    }

    // MARK: PortIODevice

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        state.withLock { s in
            let value = ByteLanes.read(offset: offset, width: width, span: 2) { port in
                // The index port is write-only: reads float high.
                port == 0 ? 0xFF : readData(&s)
            }
            updateInterrupt(&s)
            return value
        }
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        state.withLock { s in
            ByteLanes.write(offset: offset, width: width, value: value, span: 2) { port, byte in
                if port == 0 {
                    s.index = byte & 0x7F
                    s.nmiMasked = byte & CMOSRTC.nmiDisable != 0
                } else {
                    writeData(byte, &s)
                }
            }
            updateInterrupt(&s)
        }
    }

    // MARK: Host side

    /// Evaluates update-ended and alarm flags against the clock and drives IRQ 8.
    public func serviceTimers() {
        state.withLock { s in updateInterrupt(&s) }
    }

    /// Whether the guest masked NMIs through bit 7 of port 0x70.
    public var isNMIMasked: Bool { state.withLock { $0.nmiMasked } }

    /// The guest's idea of the current time, in Unix seconds.
    public var guestTime: Int64 { state.withLock { s in currentTime(s).unixSeconds } }

    /// Returns to power-on state. The guest's time offset survives, as it would on a PC whose
    /// RTC keeps running across a reset.
    public func reset() {
        state.withLock { s in
            let offset = s.offset
            let asserted = s.irqAsserted
            s = State()
            s.irqAsserted = asserted  // so a raised line is lowered
            s.ram = initialRAM
            s.offset = offset
            s.lastEvaluatedSecond = clock.now().seconds + offset
            updateInterrupt(&s)
        }
    }

    // MARK: Registers

    private func readData(_ s: inout State) -> UInt8 {
        let b = s.ram[Int(Index.registerB)]
        switch s.index {
        case Index.seconds: return encode(currentTime(s).second, b)
        case Index.minutes: return encode(currentTime(s).minute, b)
        case Index.hours: return encodeHour(currentTime(s).hour, b)
        case Index.dayOfWeek: return encode(currentTime(s).weekday, b)
        case Index.dayOfMonth: return encode(currentTime(s).day, b)
        case Index.month: return encode(currentTime(s).month, b)
        case Index.year: return encode(currentTime(s).year % 100, b)
        case Index.century: return encode(currentTime(s).year / 100, b)
        case Index.registerA: return s.ram[Int(Index.registerA)] & ~RegisterA.UIP
        case Index.registerC:
            evaluateFlags(&s)
            refreshIRQF(&s)
            let value = s.registerC
            s.registerC = 0
            return value
        case Index.registerD: return RegisterD.VRT
        default: return s.ram[Int(s.index & 0x7F)]
        }
    }

    private func writeData(_ byte: UInt8, _ s: inout State) {
        switch s.index {
        case Index.seconds, Index.minutes, Index.hours, Index.dayOfMonth, Index.month, Index.year,
            Index.century:
            setTimeField(s.index, byte, &s)
        case Index.dayOfWeek:
            break  // Derived from the date.
        case Index.registerA:
            s.ram[Int(Index.registerA)] = byte & ~RegisterA.UIP
        case Index.registerB:
            writeRegisterB(byte, &s)
        case Index.registerC, Index.registerD:
            break  // Read-only.
        default:
            s.ram[Int(s.index & 0x7F)] = byte
        }
    }

    private func writeRegisterB(_ byte: UInt8, _ s: inout State) {
        let old = s.ram[Int(Index.registerB)]
        var new = byte
        if old & RegisterB.SET == 0, new & RegisterB.SET != 0 {
            s.staged = currentTime(s)
            new &= ~RegisterB.UIE  // SET clears UIE (MC146818A register B, bit 7)
        }
        s.ram[Int(Index.registerB)] = new
        if old & RegisterB.SET != 0, new & RegisterB.SET == 0, let staged = s.staged {
            s.staged = nil
            commit(staged, &s)
        }
    }

    private func setTimeField(_ index: UInt8, _ byte: UInt8, _ s: inout State) {
        let b = s.ram[Int(Index.registerB)]
        var t = currentTime(s)
        let value = decode(byte, b)
        switch index {
        case Index.seconds: t.second = min(value, 59)
        case Index.minutes: t.minute = min(value, 59)
        case Index.hours: t.hour = decodeHour(byte, b)
        case Index.dayOfMonth: t.day = min(max(value, 1), 31)
        case Index.month: t.month = min(max(value, 1), 12)
        case Index.year: t.year = (t.year / 100) * 100 + min(value, 99)
        default: t.year = min(value, 99) * 100 + t.year % 100  // century
        }
        if s.ram[Int(Index.registerB)] & RegisterB.SET != 0 {
            s.staged = t
        } else {
            commit(t, &s)
        }
    }

    private func commit(_ time: CivilTime, _ s: inout State) {
        s.offset = time.unixSeconds - clock.now().seconds
        s.lastEvaluatedSecond = time.unixSeconds
        logger.debug("rtc: guest set the time to \(time.year)-\(time.month)-\(time.day) \(time.hour):\(time.minute):\(time.second) UTC")
    }

    private func currentTime(_ s: State) -> CivilTime {
        s.staged ?? CivilTime(unixSeconds: clock.now().seconds + s.offset)
    }

    // MARK: Formats

    private func encode(_ value: Int, _ b: UInt8) -> UInt8 {
        let v = UInt8(clamping: value)
        return b & RegisterB.DM_BINARY != 0 ? v : ((v / 10) % 10) << 4 | (v % 10)
    }

    private func decode(_ byte: UInt8, _ b: UInt8) -> Int {
        b & RegisterB.DM_BINARY != 0 ? Int(byte) : Int(byte >> 4) * 10 + Int(byte & 0x0F)
    }

    private func encodeHour(_ hour: Int, _ b: UInt8) -> UInt8 {
        guard b & RegisterB.HOURS_24 == 0 else { return encode(hour, b) }
        let twelve = hour % 12 == 0 ? 12 : hour % 12
        return encode(twelve, b) | (hour >= 12 ? CMOSRTC.pmBit : 0)
    }

    private func decodeHour(_ byte: UInt8, _ b: UInt8) -> Int {
        guard b & RegisterB.HOURS_24 == 0 else { return min(decode(byte, b), 23) }
        let twelve = min(max(decode(byte & ~CMOSRTC.pmBit, b), 1), 12) % 12
        return twelve + (byte & CMOSRTC.pmBit != 0 ? 12 : 0)
    }

    // MARK: Interrupts

    /// Sets UF for every update cycle completed since the last evaluation and AF when one of
    /// those seconds matched the alarm (checking at most the last hour of them).
    private func evaluateFlags(_ s: inout State) {
        guard s.staged == nil else { return }  // SET stops the update cycle.
        let now = clock.now().seconds + s.offset
        guard now != s.lastEvaluatedSecond else { return }
        if now > s.lastEvaluatedSecond {
            s.registerC |= RegisterC.UF
            let first = max(s.lastEvaluatedSecond + 1, now - 3599)
            for second in first...now where alarmMatches(CivilTime(unixSeconds: second), s) {
                s.registerC |= RegisterC.AF
                break
            }
        }
        s.lastEvaluatedSecond = now
    }

    private func alarmMatches(_ t: CivilTime, _ s: State) -> Bool {
        let b = s.ram[Int(Index.registerB)]
        func matches(_ alarmIndex: UInt8, _ actual: UInt8) -> Bool {
            let alarm = s.ram[Int(alarmIndex)]
            return alarm & CMOSRTC.alarmDontCare == CMOSRTC.alarmDontCare || alarm == actual
        }
        return matches(Index.secondsAlarm, encode(t.second, b)) && matches(Index.minutesAlarm, encode(t.minute, b))
            && matches(Index.hoursAlarm, encodeHour(t.hour, b))
    }

    /// IRQF is set while any flag in C has its enable bit in B.
    private func refreshIRQF(_ s: inout State) {
        let enabled = s.ram[Int(Index.registerB)] & (RegisterB.PIE | RegisterB.AIE | RegisterB.UIE)
        if s.registerC & enabled != 0 { s.registerC |= RegisterC.IRQF }
    }

    func updateInterrupt(_ s: inout State) {
        evaluateFlags(&s)
        refreshIRQF(&s)
        let level = s.registerC & RegisterC.IRQF != 0
        guard level != s.irqAsserted else { return }
        s.irqAsserted = level
        interrupt?.setLevel(level)
    }
}
