/// ISA IRQ numbers of the platform layout (docs/ARCHITECTURE.md, "Platform layout"); the
/// DSDT and MADT built by `Boot` use the same numbers.
public enum PlatformIRQ {
    public static let keyboard: UInt8 = 1
    public static let com1: UInt8 = 4
    public static let rtc: UInt8 = 8
    public static let sci: UInt8 = 9
    public static let aux: UInt8 = 12
}

/// I/O ports of the platform layout.
public enum PlatformPorts {
    public static let com1 = IOPort(0x3F8)
    public static let rtc = IOPort(0x70)
    public static let keyboardData = IOPort(0x60)
    public static let keyboardCommand = IOPort(0x64)
    public static let acpiPM = ACPIPowerManagement.basePort
    public static let pciConfig = PCIHostBridge.basePort
    public static let postCode = PostCodePort.port
    public static let systemControlB = SystemControlPortB.port
    public static let systemControlA = SystemControlPortA.port
    /// Linux's alternative I/O-delay port (`io_delay=0xed`).
    public static let delay = IOPort(0xED)
}

/// The legacy devices of one VM, built and wired per the platform layout:
///
///   port         device                         IRQ
///   0x3F8-0x3FF  Serial16550 (COM1)             4
///   0x60, 0x64   I8042 keyboard controller      1 (12 for aux data, if wired)
///   0x70-0x71    CMOSRTC                        8
///   0x600-0x608  ACPIPowerManagement            9 (SCI, level)
///   0xCF8-0xCFF  PCIHostBridge (00:00.0 440FX)  -
///   0x80         PostCodePort                   -
///   0x61, 0x92   SystemControlPortB / A         -
///   0xED         SilentPorts (I/O delay)        -
///
/// The VMM supplies one `InterruptLine` per ISA IRQ and a `PlatformControl`; every device
/// stays reachable here for host-side calls (console input, power button, PCI hot-plug).
public final class PCPlatformDevices: Sendable {
    public let com1: Serial16550
    public let keyboardController: I8042
    public let rtc: CMOSRTC
    public let powerManagement: ACPIPowerManagement
    public let pci: PCIHostBridge
    public let postCode: PostCodePort
    public let systemControlB: SystemControlPortB
    public let systemControlA: SystemControlPortA
    public let delayPort: SilentPorts

    /// - Parameters:
    ///   - guestRAMSize: bytes of guest RAM (CMOS memory-size bytes).
    ///   - interruptLine: the line for an ISA IRQ number (called once per IRQ used).
    ///   - platform: receives reset and power-off requests.
    ///   - serialOutput: where COM1's transmitted bytes go.
    ///   - clock: the RTC's time source.
    public init(
        guestRAMSize: UInt64, interruptLine: (UInt8) -> any InterruptLine, platform: any PlatformControl,
        serialOutput: any SerialOutput, clock: any RTCClock = HostWallClock()
    ) {
        com1 = Serial16550(name: "com1", interrupt: interruptLine(PlatformIRQ.com1), output: serialOutput)
        keyboardController = I8042(
            keyboardInterrupt: interruptLine(PlatformIRQ.keyboard), auxInterrupt: interruptLine(PlatformIRQ.aux),
            platform: platform)
        rtc = CMOSRTC(guestRAMSize: guestRAMSize, clock: clock, interrupt: interruptLine(PlatformIRQ.rtc))
        powerManagement = ACPIPowerManagement(sci: interruptLine(PlatformIRQ.sci), platform: platform)
        pci = PCIHostBridge(platform: platform)
        postCode = PostCodePort()
        systemControlB = SystemControlPortB()
        systemControlA = SystemControlPortA(platform: platform)
        delayPort = SilentPorts(name: "io-delay")
    }

    /// Registers every device on `bus` at its platform-layout ports.
    public func attach(to bus: PortIOBus) throws(BusError) {
        try bus.register(com1, at: PlatformPorts.com1, count: Serial16550.portCount)
        try keyboardController.attach(to: bus)
        try bus.register(rtc, at: PlatformPorts.rtc, count: CMOSRTC.portCount)
        try powerManagement.attach(to: bus)
        try pci.attach(to: bus)
        try bus.register(postCode, at: PlatformPorts.postCode, count: 1)
        try bus.register(systemControlB, at: PlatformPorts.systemControlB, count: 1)
        try bus.register(systemControlA, at: PlatformPorts.systemControlA, count: 1)
        try bus.register(delayPort, at: PlatformPorts.delay, count: 1)
    }

    /// Returns the resettable devices to their power-on state (VM reset). The RTC keeps the
    /// guest's time; registered PCI functions stay.
    public func reset() {
        com1.reset()
        keyboardController.reset()
        rtc.reset()
        powerManagement.reset()
    }
}
