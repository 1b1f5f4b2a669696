import Logging
import Synchronization

/// The ACPI PM1a event and control registers and the FADT reset register, one device over
/// ports 0x600-0x608 (see `ACPIPowerManagement+Registers.swift` for the map).
///
/// - `SLP_EN` with `SLP_TYP` 5 (S5) asks the platform to power off.
/// - Other sleep types are logged and refused the way firmware without S1-S4 would: the
///   device sets `WAK_STS` at once, so a guest that tries still returns from its sleep path
///   instead of spinning on `WAK_STS` forever.
/// - Writing `0x01` to the reset register asks for a reset.
/// - `SCI_EN` reads 1: there is no SMI handshake (`SMI_CMD` = 0 in the FADT).
/// - The SCI is a level, high while any enabled status bit is set; `pressPowerButton()` sets
///   `PWRBTN_STS`.
///
/// ## Concurrency model
/// One `Mutex` guards the registers; the SCI level changes under it, stop requests go to the
/// platform after it is released.
public final class ACPIPowerManagement: PortIODevice {
    struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = 0
        var sciAsserted = false
    }

    public let name = "acpi-pm"
    let state = Mutex(State())
    private let sci: any InterruptLine
    private let platform: any PlatformControl
    private let logger: Logger

    /// - Parameters:
    ///   - sci: the SCI line (IRQ 9, level).
    ///   - platform: receives power-off and reset requests.
    public init(
        sci: any InterruptLine, platform: any PlatformControl,
        logger: Logger = Logger(label: "swifthv.chipset.acpi-pm")
    ) {
        self.sci = sci
        self.platform = platform
        self.logger = logger
    }

    /// Registers the block at 0x600-0x608.
    public func attach(to bus: PortIOBus) throws(BusError) {
        try bus.register(self, at: Self.basePort, count: Self.portCount)
    }

    // MARK: PortIODevice

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        state.withLock { s in
            ByteLanes.read(offset: offset, width: width, span: Self.portCount) { port in
                switch port {
                case 0...1: byte(of: s.status, port - Offset.status)
                case 2...3: byte(of: s.enable, port - Offset.enable)
                case 4...5: byte(of: s.control | PM1Control.SCI_EN, port - Offset.control)
                case Offset.reset: 0
                default: 0xFF
                }
            }
        }
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        var requests: [PlatformStopRequest] = []
        state.withLock { s in
            ByteLanes.write(offset: offset, width: width, value: value, span: Self.portCount) { port, byte in
                switch port {
                case 0...1:
                    // Write-one-to-clear.
                    s.status &= ~(UInt16(byte) << (8 * (port - Offset.status)))
                case 2...3:
                    s.enable = replacing(s.enable, byte: port - Offset.enable, with: byte) & PM1Event.enableWritable
                case 4...5:
                    let written = replacing(s.control, byte: port - Offset.control, with: byte)
                    s.control = written & PM1Control.stored
                    if port == Offset.control + 1, written & PM1Control.SLP_EN != 0,
                        let request = sleepRequest(written, &s)
                    {
                        requests.append(request)
                    }
                case Offset.reset:
                    if byte == Self.resetValue {
                        requests.append(.reset)
                    } else {
                        logger.debug("acpi-pm: reset register write 0x\(String(byte, radix: 16)) ignored")
                    }
                default:
                    break
                }
            }
            updateSCI(&s)
        }
        for request in requests {
            logger.info("acpi-pm: guest requested \(request)")
            platform.requestStop(request)
        }
    }

    // MARK: Host side

    /// Presses the ACPI fixed power button: sets PWRBTN_STS, raising the SCI if enabled.
    public func pressPowerButton() {
        state.withLock { s in
            s.status |= PM1Event.PWRBTN
            updateSCI(&s)
        }
    }

    /// Returns to the power-on state.
    public func reset() {
        state.withLock { s in
            s = State(sciAsserted: s.sciAsserted)
            updateSCI(&s)
        }
    }

    // MARK: Helpers

    /// Handles SLP_EN: S5 powers off, anything else is refused with an immediate wake.
    private func sleepRequest(_ control: UInt16, _ s: inout State) -> PlatformStopRequest? {
        let type = (control & PM1Control.SLP_TYP_MASK) >> PM1Control.SLP_TYP_SHIFT
        if type == Self.s5SleepType { return .powerOff }
        logger.notice("acpi-pm: guest asked for sleep type \(type); only S5 is supported, waking at once")
        s.status |= PM1Event.WAK_STS
        return nil
    }

    private func byte(of register: UInt16, _ index: UInt16) -> UInt8 {
        UInt8(truncatingIfNeeded: register >> (8 * index))
    }

    private func replacing(_ register: UInt16, byte index: UInt16, with byte: UInt8) -> UInt16 {
        let shift = 8 * index
        return (register & ~(0xFF << shift)) | (UInt16(byte) << shift)
    }

    func updateSCI(_ s: inout State) {
        let level = s.status & s.enable & PM1Event.sciSources != 0
        guard level != s.sciAsserted else { return }
        s.sciAsserted = level
        sci.setLevel(level)
    }
}
