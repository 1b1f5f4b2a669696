import Logging
import Synchronization

/// The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status/command), with an
/// AT keyboard behind it and no aux (mouse) device.
///
/// It answers what Linux's i8042 and atkbd drivers send at boot (self-test, CTR read/write,
/// interface tests, keyboard reset/ID/LEDs/enable) immediately, so no probe waits on a timeout,
/// and turns command 0xFE (and any output-port write that clears bit 0) into
/// `PlatformControl.requestStop(.reset)`: Linux's reboot fallback.
///
/// IRQ 1 is a level: high while the output buffer holds keyboard data and CTR.KBDINT is set.
/// Aux data raises the optional aux line (IRQ 12) the same way. No aux device is attached:
/// a byte sent to it (command 0xD4) is answered by 0xFE with status TIMEOUT and AUXDATA.
///
/// ## Concurrency model
/// One `Mutex` guards the state; interrupt levels change under it, reset requests are made
/// after it is released.
public final class I8042: Sendable {
    enum Source: Equatable { case keyboard, aux }

    struct OutputByte {
        var value: UInt8
        var source: Source
        /// Status TIMEOUT accompanies this byte (a send to the absent aux device).
        var timedOut = false
    }

    /// What the next byte written to port 0x60 means.
    enum PendingWrite: Equatable {
        case keyboardCommand
        case ram(index: UInt8)
        case outputPort
        case keyboardOutput
        case auxOutput
        case auxDevice
        case keyboardParameter(command: UInt8)
    }

    struct State {
        var ram = [UInt8](repeating: 0, count: 32)
        var outputPort = OutputPort.initial
        var queue = BoundedQueue<OutputByte>(capacity: I8042.outputQueueDepth)
        var lastRead: UInt8 = 0
        var lastWasCommand = false
        var pending = PendingWrite.keyboardCommand
        var keyboardScanning = true
        var lastKeyboardReply: UInt8 = Keyboard.ack
        var irq1Asserted = false
        var irq12Asserted = false

        init() { ram[0] = CTR.postBIOSDefault }
        var ctr: UInt8 {
            get { ram[0] }
            set { ram[0] = newValue }
        }
    }

    let state = Mutex(State())
    private let keyboardInterrupt: any InterruptLine
    private let auxInterrupt: (any InterruptLine)?
    private let platform: any PlatformControl
    private let logger: Logger

    /// - Parameters:
    ///   - keyboardInterrupt: IRQ 1.
    ///   - auxInterrupt: IRQ 12, if the platform wires it (nothing but command 0xD3 uses it).
    ///   - platform: receives the reset request.
    public init(
        keyboardInterrupt: any InterruptLine, auxInterrupt: (any InterruptLine)? = nil,
        platform: any PlatformControl, logger: Logger = Logger(label: "swifthv.chipset.i8042")
    ) {
        self.keyboardInterrupt = keyboardInterrupt
        self.auxInterrupt = auxInterrupt
        self.platform = platform
        self.logger = logger
    }

    /// Port 0x60 as a bus device.
    public var dataPort: any PortIODevice { Port(controller: self, isCommandPort: false) }
    /// Port 0x64 as a bus device.
    public var commandPort: any PortIODevice { Port(controller: self, isCommandPort: true) }

    /// Registers ports 0x60 and 0x64 on `bus`.
    public func attach(to bus: PortIOBus) throws(BusError) {
        try bus.register(dataPort, at: IOPort(0x60), count: 1)
        try bus.register(commandPort, at: IOPort(0x64), count: 1)
    }

    /// Queues raw scan-code bytes from the host keyboard (the caller picks set 1 or 2).
    /// Returns how many fit; nothing is queued while the keyboard is disabled.
    @discardableResult
    public func injectKeyboardBytes(_ bytes: [UInt8]) -> Int {
        state.withLock { s in
            guard s.keyboardScanning, s.ctr & CTR.KBDDIS == 0 else { return 0 }
            var accepted = 0
            for byte in bytes {
                guard s.queue.push(OutputByte(value: byte, source: .keyboard)) else { break }
                accepted += 1
            }
            updateInterrupts(&s)
            return accepted
        }
    }

    /// Returns to the power-on (post-BIOS) state.
    public func reset() {
        state.withLock { s in
            let (irq1, irq12) = (s.irq1Asserted, s.irq12Asserted)
            s = State()
            (s.irq1Asserted, s.irq12Asserted) = (irq1, irq12)  // so raised lines are lowered
            updateInterrupts(&s)
        }
    }

    // MARK: Port accesses

    func readData() -> UInt8 {
        state.withLock { s in
            if let byte = s.queue.pop() { s.lastRead = byte.value }
            updateInterrupts(&s)
            return s.lastRead
        }
    }

    func readStatus() -> UInt8 {
        state.withLock { s in
            var status = Status.KEYLOCK | (s.ctr & CTR.SYS)
            if s.lastWasCommand { status |= Status.CMD }
            if let head = s.queue.first {
                status |= Status.OBF
                if head.source == .aux { status |= Status.AUXDATA }
                if head.timedOut { status |= Status.TIMEOUT }
            }
            return status
        }
    }

    func writeCommand(_ command: UInt8) {
        let resetRequested: Bool = state.withLock { s in
            s.lastWasCommand = true
            s.pending = .keyboardCommand
            let wantsReset = controllerCommand(command, &s)
            updateInterrupts(&s)
            return wantsReset
        }
        if resetRequested { requestReset(reason: "command 0x\(String(command, radix: 16))") }
    }

    func writeData(_ byte: UInt8) {
        let resetRequested: Bool = state.withLock { s in
            s.lastWasCommand = false
            let pending = s.pending
            s.pending = .keyboardCommand
            var wantsReset = false
            switch pending {
            case .ram(let index):
                s.ram[Int(index & 0x1F)] = byte
            case .outputPort:
                s.outputPort = byte
                wantsReset = byte & OutputPort.resetDeasserted == 0
            case .keyboardOutput:
                queue(byte, from: .keyboard, &s)
            case .auxOutput:
                queue(byte, from: .aux, &s)
            case .auxDevice:
                // No aux device is attached: the controller times out and returns 0xFE with
                // TIMEOUT, so a mouse driver's probe fails at once instead of waiting.
                if !s.queue.push(OutputByte(value: Keyboard.nak, source: .aux, timedOut: true)) {
                    logger.debug("i8042: output queue full, aux timeout dropped")
                }
            case .keyboardParameter(let command):
                keyboardParameter(byte, for: command, &s)
            case .keyboardCommand:
                keyboardCommand(byte, &s)
            }
            updateInterrupts(&s)
            return wantsReset
        }
        if resetRequested { requestReset(reason: "output port write") }
    }

    // MARK: Controller

    /// Runs a controller command; returns true when it asks for a CPU reset.
    private func controllerCommand(_ command: UInt8, _ s: inout State) -> Bool {
        switch command {
        case Command.readRAMFirst...Command.readRAMLast:
            queue(s.ram[Int(command - Command.readRAMFirst)], from: .keyboard, &s)
        case Command.writeRAMFirst...Command.writeRAMLast:
            s.pending = .ram(index: command - Command.writeRAMFirst)
        case Command.auxDisable:
            s.ctr |= CTR.AUXDIS
        case Command.auxEnable:
            s.ctr &= ~CTR.AUXDIS
        case Command.auxTest, Command.keyboardTest:
            queue(Reply.interfaceTestPassed, from: .keyboard, &s)
        case Command.selfTest:
            s.ctr |= CTR.SYS
            queue(Reply.selfTestPassed, from: .keyboard, &s)
        case Command.keyboardDisable:
            s.ctr |= CTR.KBDDIS
        case Command.keyboardEnable:
            s.ctr &= ~CTR.KBDDIS
        case Command.readInputPort:
            queue(0x00, from: .keyboard, &s)
        case Command.readOutputPort:
            queue(s.outputPort, from: .keyboard, &s)
        case Command.writeOutputPort:
            s.pending = .outputPort
        case Command.writeKeyboardOutput:
            s.pending = .keyboardOutput
        case Command.writeAuxOutput:
            s.pending = .auxOutput
        case Command.writeToAux:
            s.pending = .auxDevice
        case Command.disableA20:
            s.outputPort &= ~OutputPort.a20
        case Command.enableA20:
            s.outputPort |= OutputPort.a20
        case Command.pulseFirst...0xFF:
            return command & OutputPort.resetDeasserted == 0
        default:
            logger.debug("i8042: unhandled controller command 0x\(String(command, radix: 16)) ignored")
        }
        return false
    }

    private func queue(_ value: UInt8, from source: Source, _ s: inout State) {
        if !s.queue.push(OutputByte(value: value, source: source)) {
            logger.debug("i8042: output queue full, byte 0x\(String(value, radix: 16)) dropped")
        }
    }

    // MARK: Keyboard

    private func keyboardReply(_ s: inout State, _ bytes: UInt8...) {
        for byte in bytes { queue(byte, from: .keyboard, &s) }
        if let last = bytes.last { s.lastKeyboardReply = last }
    }

    private func keyboardCommand(_ command: UInt8, _ s: inout State) {
        // Writing to the keyboard enables the keyboard interface (as on real controllers).
        s.ctr &= ~CTR.KBDDIS
        switch command {
        case Keyboard.setLEDs, Keyboard.setRate, Keyboard.scanCodeSet:
            keyboardReply(&s, Keyboard.ack)
            s.pending = .keyboardParameter(command: command)
        case Keyboard.echo:
            keyboardReply(&s, Keyboard.echoReply)
        case Keyboard.getID:
            let second = s.ctr & CTR.XLATE != 0 ? Keyboard.idSecondTranslated : Keyboard.idSecondRaw
            keyboardReply(&s, Keyboard.ack, Keyboard.idFirst, second)
        case Keyboard.enable:
            s.keyboardScanning = true
            keyboardReply(&s, Keyboard.ack)
        case Keyboard.resetDisable:
            s.keyboardScanning = false
            keyboardReply(&s, Keyboard.ack)
        case Keyboard.resetEnable:
            s.keyboardScanning = true
            keyboardReply(&s, Keyboard.ack)
        case Keyboard.resend:
            queue(s.lastKeyboardReply, from: .keyboard, &s)
        case Keyboard.reset:
            s.keyboardScanning = true
            keyboardReply(&s, Keyboard.ack, Keyboard.batPassed)
        case 0xF7...0xFD:
            keyboardReply(&s, Keyboard.ack)  // set key types (scan set 3): accepted, no effect
        default:
            keyboardReply(&s, Keyboard.nak)
        }
    }

    private func keyboardParameter(_ byte: UInt8, for command: UInt8, _ s: inout State) {
        keyboardReply(&s, Keyboard.ack)
        if command == Keyboard.scanCodeSet, byte == 0 {
            keyboardReply(&s, 0x02)  // "which set?": set 2
        }
    }

    // MARK: Interrupts

    func updateInterrupts(_ s: inout State) {
        let head = s.queue.first
        let kbd = head?.source == .keyboard && s.ctr & CTR.KBDINT != 0
        let aux = head?.source == .aux && s.ctr & CTR.AUXINT != 0
        if kbd != s.irq1Asserted {
            s.irq1Asserted = kbd
            keyboardInterrupt.setLevel(kbd)
        }
        if aux != s.irq12Asserted {
            s.irq12Asserted = aux
            auxInterrupt?.setLevel(aux)
        }
    }

    private func requestReset(reason: String) {
        logger.info("i8042: guest requested a reset (\(reason))")
        platform.requestStop(.reset)
    }

    /// One of the controller's two ports on the bus.
    final class Port: PortIODevice {
        let controller: I8042
        let isCommandPort: Bool
        var name: String { isCommandPort ? "i8042-command" : "i8042-data" }

        init(controller: I8042, isCommandPort: Bool) {
            self.controller = controller
            self.isCommandPort = isCommandPort
        }

        /// Only the low byte of a wider access reaches the 8-bit port; the rest reads 0xFF.
        func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
            guard offset == 0 else { return width.allOnes }
            let byte = isCommandPort ? controller.readStatus() : controller.readData()
            return (width.allOnes & ~0xFF) | UInt64(byte)
        }

        func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
            guard offset == 0 else { return }
            let byte = UInt8(truncatingIfNeeded: value)
            if isCommandPort { controller.writeCommand(byte) } else { controller.writeData(byte) }
        }
    }
}
