import Logging
import Synchronization

/// A 16550A UART: the register model Linux's 8250 driver probes as "16550A", 16-byte FIFOs,
/// level interrupt output and a bounded host-side receive buffer.
///
/// What is not modelled: baud-rate timing (a byte written to THR is "sent" at once, so THRE
/// and TEMT always read 1 after the write), parity and framing errors, and the receive
/// character-timeout delay (fewer bytes than the trigger level report the timeout interrupt
/// immediately, which Linux handles exactly like "data available").
///
/// The interrupt output follows PC wiring: it is asserted while an enabled condition is
/// pending, `MCR.OUT2` is set (the ISA IRQ gate) and loopback is off, and deasserted when the
/// condition is cleared. Linux sets OUT2 when it opens a port with an IRQ.
///
/// ## Concurrency model
/// One `Mutex` guards all state. vCPU threads call `ioRead`/`ioWrite`, the console thread calls
/// `receive`/`sendBreak`. The interrupt line is driven under the lock (so level changes are
/// applied in order); transmitted bytes go to the `SerialOutput` after the lock is released.
public final class Serial16550: PortIODevice {
    /// One received character with its line-status flags.
    struct RXCharacter {
        var byte: UInt8
        var isBreak: Bool
    }

    struct State {
        var ier: UInt8 = 0
        var lcr: UInt8 = 0
        var mcr: UInt8 = 0
        var fcr: UInt8 = 0
        var scr: UInt8 = 0
        var dll: UInt8 = 0x0C  // 9600 baud at 1.8432 MHz, as a PC BIOS leaves it
        var dlm: UInt8 = 0
        /// Latched line-status error bits (OE), cleared by reading LSR.
        var lsrLatched: UInt8 = 0
        /// Modem-status delta bits, cleared by reading MSR.
        var msrDeltas: UInt8 = 0
        /// The THRE interrupt latch: set when THR empties or ETBEI is enabled, cleared by
        /// reading IIR (when THRE is the reported source) or writing THR.
        var thrEmptyPending = true
        var rxFIFO = BoundedQueue<RXCharacter>(capacity: Serial16550.fifoDepth)
        /// Host input waiting for room in the FIFO (a console paste).
        var hostRX: BoundedQueue<RXCharacter>
        var irqAsserted = false

        init(hostBufferCapacity: Int) {
            hostRX = BoundedQueue(capacity: hostBufferCapacity)
        }

        var fifoEnabled: Bool { fcr & Serial16550.FCR.enableFIFO != 0 }
        var loopback: Bool { mcr & Serial16550.MCR.LOOP != 0 }
        var rxCapacity: Int { fifoEnabled ? Serial16550.fifoDepth : 1 }
    }

    public let name: String
    let state: Mutex<State>
    private let interrupt: any InterruptLine
    private let output: any SerialOutput
    private let logger: Logger
    let hostBufferCapacity: Int

    /// - Parameters:
    ///   - name: log name ("com1").
    ///   - interrupt: the ISA IRQ line (IRQ 4 for COM1).
    ///   - output: where transmitted bytes go.
    ///   - hostBufferCapacity: bytes of host input held beyond the 16-byte FIFO; more input is
    ///     dropped and reported to the guest as an overrun.
    public init(
        name: String = "com1", interrupt: any InterruptLine, output: any SerialOutput,
        hostBufferCapacity: Int = 4096, logger: Logger = Logger(label: "swifthv.chipset.serial")
    ) {
        self.name = name
        self.interrupt = interrupt
        self.output = output
        self.logger = logger
        self.hostBufferCapacity = max(1, hostBufferCapacity)
        self.state = Mutex(State(hostBufferCapacity: max(1, hostBufferCapacity)))
    }

    // MARK: PortIODevice

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        state.withLock { s in
            let value = ByteLanes.read(offset: offset, width: width, span: Register.count) { port in
                readRegister(port, &s)
            }
            updateInterrupt(&s)
            return value
        }
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        let transmitted: [UInt8] = state.withLock { s in
            var sent: [UInt8] = []
            ByteLanes.write(offset: offset, width: width, value: value, span: Register.count) { port, byte in
                writeRegister(port, byte, &s, sent: &sent)
            }
            updateInterrupt(&s)
            return sent
        }
        if !transmitted.isEmpty { output.write(transmitted) }
    }

    /// Ports the UART decodes from its base (0x3F8-0x3FF for COM1).
    public static let portCount: UInt16 = Register.count

    // MARK: Host side

    /// Bytes `receive` would accept right now (host buffer room), for console back-pressure.
    public var availableInputCapacity: Int {
        state.withLock { $0.hostRX.capacity - $0.hostRX.count }
    }

    /// Queues bytes typed on the host console. Returns how many were accepted; the rest are
    /// dropped and the guest sees an overrun (LSR.OE).
    @discardableResult
    public func receive(_ bytes: [UInt8]) -> Int {
        state.withLock { s in
            var accepted = 0
            for byte in bytes {
                if s.hostRX.push(RXCharacter(byte: byte, isBreak: false)) {
                    accepted += 1
                } else {
                    s.lsrLatched |= LSR.OE
                    break
                }
            }
            refillFIFO(&s)
            updateInterrupt(&s)
            return accepted
        }
    }

    /// Sends a BREAK condition: the guest receives a NUL character with LSR.BI set. Linux
    /// treats BREAK followed by a key as magic SysRq.
    public func sendBreak() {
        state.withLock { s in
            if !s.hostRX.push(RXCharacter(byte: 0, isBreak: true)) { s.lsrLatched |= LSR.OE }
            refillFIFO(&s)
            updateInterrupt(&s)
        }
    }

    /// Returns to the power-on state (VM reset). Pending host input is discarded.
    public func reset() {
        state.withLock { s in
            let asserted = s.irqAsserted
            s = State(hostBufferCapacity: hostBufferCapacity)
            s.irqAsserted = asserted  // so the line is lowered if it was high
            updateInterrupt(&s)
        }
    }

    // MARK: Registers

    private func readRegister(_ port: UInt16, _ s: inout State) -> UInt8 {
        let dlab = s.lcr & LCR.DLAB != 0
        switch port {
        case Register.RBR:
            if dlab { return s.dll }
            guard let character = s.rxFIFO.pop() else { return 0 }
            refillFIFO(&s)
            return character.byte
        case Register.IER:
            return dlab ? s.dlm : s.ier
        case Register.IIR:
            let id = pendingInterrupt(s)
            if id == IIR.transmitterEmpty { s.thrEmptyPending = false }
            return id | (s.fifoEnabled ? IIR.fifosEnabled : 0)
        case Register.LCR:
            return s.lcr
        case Register.MCR:
            return s.mcr
        case Register.LSR:
            let value = lineStatus(s)
            s.lsrLatched = 0
            return value
        case Register.MSR:
            let value = modemInputs(s) | s.msrDeltas
            s.msrDeltas = 0
            return value
        case Register.SCR:
            return s.scr
        default:
            return 0xFF
        }
    }

    private func writeRegister(_ port: UInt16, _ byte: UInt8, _ s: inout State, sent: inout [UInt8]) {
        let dlab = s.lcr & LCR.DLAB != 0
        switch port {
        case Register.RBR:
            if dlab {
                s.dll = byte
                return
            }
            transmit(byte, &s, sent: &sent)
        case Register.IER:
            if dlab {
                s.dlm = byte
                return
            }
            let old = s.ier
            s.ier = byte & IER.implemented
            // Enabling ETBEI while THR is empty raises THRE again: Linux's startup test
            // (UART_BUG_THRE) relies on it.
            if old & IER.ETBEI == 0, s.ier & IER.ETBEI != 0 { s.thrEmptyPending = true }
        case Register.IIR:
            writeFCR(byte, &s)
        case Register.LCR:
            s.lcr = byte
        case Register.MCR:
            let oldInputs = modemInputs(s)
            let wasLoopback = s.loopback
            s.mcr = byte & MCR.implemented
            noteModemInputChange(from: oldInputs, to: modemInputs(s), &s)
            if wasLoopback, !s.loopback { refillFIFO(&s) }
        case Register.SCR:
            s.scr = byte
        default:
            break  // LSR and MSR are read-only.
        }
    }

    private func writeFCR(_ byte: UInt8, _ s: inout State) {
        let wasEnabled = s.fifoEnabled
        let enable = byte & FCR.enableFIFO != 0
        // Changing the FIFO enable bit clears both FIFOs (PC16550D, FCR bit 0).
        if enable != wasEnabled || byte & FCR.clearReceiver != 0 {
            s.rxFIFO.removeAll()
        }
        // Only bits 0, 3, 6 and 7 are stored; 1 and 2 self-clear.
        s.fcr = enable ? (byte & 0xC9) : 0
        refillFIFO(&s)
    }

    private func transmit(_ byte: UInt8, _ s: inout State, sent: inout [UInt8]) {
        if s.loopback {
            // The transmitter's output feeds the receiver; a full FIFO overruns.
            if s.rxFIFO.count >= s.rxCapacity || !s.rxFIFO.push(RXCharacter(byte: byte, isBreak: false)) {
                s.lsrLatched |= LSR.OE
            }
        } else {
            sent.append(byte)
        }
        // Sent at once: THR is empty again, which is a new THRE interrupt.
        s.thrEmptyPending = true
    }

    /// Moves host input into the FIFO while there is room (not in loopback, where the
    /// receiver is wired to the transmitter).
    private func refillFIFO(_ s: inout State) {
        guard !s.loopback else { return }
        while s.rxFIFO.count < s.rxCapacity, let next = s.hostRX.pop() {
            s.rxFIFO.push(next)
        }
    }

    // MARK: Derived status

    private func lineStatus(_ s: State) -> UInt8 {
        var value = LSR.THRE | LSR.TEMT | s.lsrLatched
        if let head = s.rxFIFO.first {
            value |= LSR.DR
            if head.isBreak { value |= LSR.BI }
        }
        if s.fifoEnabled, s.rxFIFO.contains(where: { $0.isBreak }) { value |= LSR.FIFOE }
        return value
    }

    /// Modem input lines (MSR bits 7:4). In loopback they mirror MCR's outputs
    /// (DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD); otherwise a connected terminal is reported.
    private func modemInputs(_ s: State) -> UInt8 {
        guard s.loopback else { return MSR.DCD | MSR.DSR | MSR.CTS }
        var value: UInt8 = 0
        if s.mcr & MCR.DTR != 0 { value |= MSR.DSR }
        if s.mcr & MCR.RTS != 0 { value |= MSR.CTS }
        if s.mcr & MCR.OUT1 != 0 { value |= MSR.RI }
        if s.mcr & MCR.OUT2 != 0 { value |= MSR.DCD }
        return value
    }

    private func noteModemInputChange(from old: UInt8, to new: UInt8, _ s: inout State) {
        let changed = old ^ new
        if changed & MSR.CTS != 0 { s.msrDeltas |= MSR.DCTS }
        if changed & MSR.DSR != 0 { s.msrDeltas |= MSR.DDSR }
        if changed & MSR.DCD != 0 { s.msrDeltas |= MSR.DDCD }
        if old & MSR.RI != 0, new & MSR.RI == 0 { s.msrDeltas |= MSR.TERI }
    }

    /// The highest-priority enabled pending interrupt, as an IIR identification value.
    private func pendingInterrupt(_ s: State) -> UInt8 {
        let lsr = lineStatus(s)
        if s.ier & IER.ELSI != 0, lsr & (LSR.OE | LSR.BI) != 0 { return IIR.receiverLineStatus }
        if s.ier & IER.ERBFI != 0, !s.rxFIFO.isEmpty {
            let trigger = s.fifoEnabled ? FCR.triggerLevel(s.fcr) : 1
            return s.rxFIFO.count >= trigger ? IIR.receivedDataAvailable : IIR.characterTimeout
        }
        if s.ier & IER.ETBEI != 0, s.thrEmptyPending { return IIR.transmitterEmpty }
        if s.ier & IER.EDSSI != 0, s.msrDeltas & MSR.deltas != 0 { return IIR.modemStatus }
        return IIR.noInterruptPending
    }

    func updateInterrupt(_ s: inout State) {
        let gated = s.mcr & MCR.OUT2 != 0 && !s.loopback
        let level = gated && pendingInterrupt(s) != IIR.noInterruptPending
        guard level != s.irqAsserted else { return }
        s.irqAsserted = level
        interrupt.setLevel(level)
    }
}
