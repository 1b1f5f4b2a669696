import Testing

@testable import Chipset

/// Linux 6.1 `drivers/tty/serial/8250/8250_port.c` autoconfig(), autoconfig_16550a() and
/// size_fifo(), transcribed access by access for an x86 PC port (no RSA, no EFR quirks).
/// Returns the port type Linux would print.
private func linuxAutoconfig(_ uart: Serial16550) -> String {
    let (RX, IER, IIR, LCR, MCR, LSR, MSR): (UInt16, UInt16, UInt16, UInt16, UInt16, UInt16, UInt16) =
        (0, 1, 2, 3, 4, 5, 6)
    let FCR = IIR
    let EFR = IIR
    // IER read-back test.
    let scratch = uart.inb(IER)
    uart.outb(IER, 0)
    let scratch2 = uart.inb(IER) & 0x0F
    uart.outb(IER, 0x0F)
    let scratch3 = uart.inb(IER) & 0x0F
    uart.outb(IER, scratch)
    guard scratch2 == 0, scratch3 == 0x0F else { return "none: IER test" }

    let saveMCR = uart.inb(MCR)
    let saveLCR = uart.inb(LCR)
    // Loopback test: UART_MCR_LOOP | 0x0A must give MSR & 0xF0 == 0x90.
    uart.outb(MCR, 0x10 | 0x0A)
    let status1 = uart.inb(MSR) & 0xF0
    uart.outb(MCR, saveMCR)
    guard status1 == 0x90 else { return "none: loopback test" }

    uart.outb(LCR, 0xBF)  // UART_LCR_CONF_MODE_B
    uart.outb(EFR, 0)
    uart.outb(LCR, 0)
    uart.outb(FCR, 0x01)  // UART_FCR_ENABLE_FIFO
    let fifoBits = uart.inb(IIR) >> 6
    var type: String
    switch fifoBits {
    case 0: type = "8250/16450"
    case 1: type = "unknown"
    case 2: type = "16550"
    default: type = autoconfig16550A()
    }
    uart.outb(LCR, saveLCR)
    // Reset the UART.
    uart.outb(MCR, saveMCR)
    uart.outb(FCR, 0x01)
    uart.outb(FCR, 0x07)
    uart.outb(FCR, 0)
    _ = uart.inb(RX)
    uart.outb(IER, 0)
    return type

    func autoconfig16550A() -> String {
        uart.outb(LCR, 0x80)  // UART_LCR_CONF_MODE_A
        if uart.inb(EFR) == 0 {
            uart.outb(EFR, 0xA8)
            let v1 = uart.inb(EFR) != 0
            uart.outb(EFR, 0)
            return v1 ? "16650" : "Motorola 8xxx DUART"
        }
        uart.outb(LCR, 0xBF)
        if uart.inb(EFR) == 0 { return "16650V2 family" }
        // National Semiconductor SuperIO check.
        uart.outb(LCR, 0)
        let nsStatus1 = uart.inb(MCR)
        uart.outb(LCR, 0xE0)
        var nsStatus2 = uart.inb(0x02)
        if (nsStatus2 ^ nsStatus1) & 0x10 == 0 {
            uart.outb(LCR, 0)
            uart.outb(MCR, nsStatus1 ^ 0x10)
            uart.outb(LCR, 0xE0)
            nsStatus2 = uart.inb(0x02)
            uart.outb(LCR, 0)
            uart.outb(MCR, nsStatus1)
            if (nsStatus2 ^ nsStatus1) & 0x10 != 0 { return "NS16550A" }
        }
        // 16750 check: 64-byte FIFO enable bit.
        uart.outb(LCR, 0)
        uart.outb(FCR, 0x01 | 0x20)
        let s1 = uart.inb(IIR) >> 5
        uart.outb(FCR, 0x01)
        uart.outb(LCR, 0x80)
        uart.outb(FCR, 0x01 | 0x20)
        let s2 = uart.inb(IIR) >> 5
        uart.outb(FCR, 0x01)
        uart.outb(LCR, 0)
        if s1 == 6 && s2 == 7 { return "16750" }
        // XScale UUE bit.
        let iersave = uart.inb(IER)
        uart.outb(IER, iersave & ~0x40)
        if uart.inb(IER) & 0x40 == 0 {
            uart.outb(IER, iersave | 0x40)
            if uart.inb(IER) & 0x40 != 0 { return "XScale" }
        }
        uart.outb(IER, iersave)
        if sizeFIFO() == 64 { return "U6_16550A" }
        return "16550A"
    }

    func sizeFIFO() -> Int {
        let oldLCR = uart.inb(LCR)
        uart.outb(LCR, 0)
        let oldFCR = uart.inb(FCR)
        let oldMCR = uart.inb(MCR)
        uart.outb(FCR, 0x07)
        uart.outb(MCR, 0x10)
        uart.outb(LCR, 0x80)
        let oldDLL = uart.inb(0)
        let oldDLM = uart.inb(1)
        uart.outb(0, 1)
        uart.outb(1, 0)
        uart.outb(LCR, 0x03)
        for byte in 0...255 { uart.outb(0, UInt8(byte)) }
        var count = 0
        while uart.inb(LSR) & 0x01 != 0, count < 256 {
            _ = uart.inb(RX)
            count += 1
        }
        uart.outb(FCR, oldFCR)
        uart.outb(MCR, oldMCR)
        uart.outb(LCR, 0x80)
        uart.outb(0, oldDLL)
        uart.outb(1, oldDLM)
        uart.outb(LCR, oldLCR)
        return count
    }
}

@Suite struct Serial16550Tests {
    let irq = RecordingInterruptLine()
    let out = RecordingSerialOutput()
    var uart: Serial16550 { _uart }
    private let _uart: Serial16550

    init() { _uart = Serial16550(interrupt: irq, output: out, hostBufferCapacity: 64) }

    @Test func linuxAutoconfigFinds16550A() {
        #expect(linuxAutoconfig(uart) == "16550A")
        // The probe's loopback writes never reach the host.
        #expect(out.written.isEmpty)
        // The probe leaves the UART quiet: FIFOs off, no interrupt.
        #expect(uart.inb(2) == 0x01)
        #expect(!irq.isAsserted)
    }

    @Test func loopbackProbeReads0x90() {
        uart.outb(4, 0x1A)
        #expect(uart.inb(6) & 0xF0 == 0x90)
        uart.outb(4, 0x1F)
        #expect(uart.inb(6) & 0xF0 == 0xF0)
        uart.outb(4, 0x10)
        #expect(uart.inb(6) & 0xF0 == 0x00)
    }

    @Test func sizeFIFOCountsSixteen() {
        uart.outb(2, 0x07)
        uart.outb(4, 0x10)
        for byte in 0...255 { uart.outb(0, UInt8(byte)) }
        var received: [UInt8] = []
        while uart.inb(5) & 0x01 != 0, received.count < 256 { received.append(uart.inb(0)) }
        #expect(received == Array(0...15))
    }

    @Test func transmitGoesToOutput() {
        for byte in Array("hello\n".utf8) { uart.outb(0, byte) }
        #expect(out.written == Array("hello\n".utf8))
        #expect(uart.inb(5) & 0x60 == 0x60)
    }

    @Test func divisorLatchAndScratch() {
        uart.outb(3, 0x80)
        uart.outb(0, 0x01)
        uart.outb(1, 0x02)
        #expect(uart.inb(0) == 0x01)
        #expect(uart.inb(1) == 0x02)
        uart.outb(3, 0x03)
        #expect(uart.inb(3) == 0x03)
        #expect(uart.inb(1) == 0)  // IER, not DLM
        uart.outb(0, 0x41)  // THR, not DLL
        #expect(out.written == [0x41])
        uart.outb(7, 0xA5)
        #expect(uart.inb(7) == 0xA5)
    }

    @Test func ierUpperBitsReadZero() {
        uart.outb(1, 0xFF)
        #expect(uart.inb(1) == 0x0F)
    }

    @Test func receivedDataInterruptIsLevel() {
        uart.outb(4, 0x08)  // OUT2: the PC IRQ gate
        uart.outb(1, 0x01)
        #expect(!irq.isAsserted)
        #expect(uart.receive([0x61, 0x62]) == 2)
        #expect(irq.isAsserted)
        #expect(uart.inb(2) == 0x04)  // FIFO off: trigger level 1
        #expect(uart.inb(5) & 0x01 == 0x01)
        #expect(uart.inb(0) == 0x61)
        #expect(irq.isAsserted)
        #expect(uart.inb(0) == 0x62)
        #expect(!irq.isAsserted)
        #expect(uart.inb(2) == 0x01)
        #expect(uart.inb(5) & 0x01 == 0)
    }

    @Test func out2GatesTheInterrupt() {
        uart.outb(1, 0x01)
        uart.receive([1])
        #expect(!irq.isAsserted)
        uart.outb(4, 0x08)
        #expect(irq.isAsserted)
        uart.outb(4, 0x18)  // loopback disconnects the output too
        #expect(!irq.isAsserted)
    }

    @Test func fifoTriggerLevelsAndTimeout() {
        uart.outb(4, 0x08)
        uart.outb(2, 0x81)  // FIFO on, trigger 8
        uart.outb(1, 0x01)
        uart.receive([1, 2, 3])
        #expect(uart.inb(2) == 0xCC)  // character timeout below the trigger level
        uart.receive([4, 5, 6, 7, 8])
        #expect(uart.inb(2) == 0xC4)  // data available at the trigger level
        #expect(irq.isAsserted)
        for expected in UInt8(1)...8 { #expect(uart.inb(0) == expected) }
        #expect(!irq.isAsserted)
        for (fcr, level) in [(UInt8(0x01), 1), (0x41, 4), (0x81, 8), (0xC1, 14)] {
            #expect(Serial16550.FCR.triggerLevel(fcr) == level)
        }
    }

    @Test func thrEmptyInterruptReassertsLikeLinuxExpects() {
        uart.outb(4, 0x08)
        // serial8250_do_startup's UART_BUG_THRE check.
        uart.outb(1, 0x02)
        let iir1 = uart.inb(2)
        uart.outb(1, 0)
        uart.outb(1, 0x02)
        let iir = uart.inb(2)
        uart.outb(1, 0)
        #expect(iir1 & 0x01 == 0)
        #expect(iir & 0x01 == 0)
        // Reading IIR clears THRE; writing THR raises it again.
        uart.outb(1, 0x02)
        #expect(irq.isAsserted)
        #expect(uart.inb(2) == 0x02)
        #expect(!irq.isAsserted)
        #expect(uart.inb(2) == 0x01)
        let edgesBefore = irq.risingEdges
        uart.outb(0, 0x41)
        #expect(irq.isAsserted)
        #expect(irq.risingEdges == edgesBefore + 1)
        uart.outb(1, 0)
        #expect(!irq.isAsserted)
    }

    @Test func interruptPriority() {
        uart.outb(4, 0x08)
        uart.outb(1, 0x0F)
        uart.outb(4, 0x0A)  // RTS change is not a modem-status change outside loopback
        uart.sendBreak()
        uart.receive([0x42])
        // Line status (break) outranks received data and THRE.
        #expect(uart.inb(2) == 0x06)
        let lsr = uart.inb(5)
        #expect(lsr & 0x11 == 0x11)  // BI with DR
        #expect(uart.inb(0) == 0x00)  // the break character is a NUL
        #expect(uart.inb(2) == 0x04)
        #expect(uart.inb(0) == 0x42)
        #expect(uart.inb(2) == 0x02)  // THRE, cleared by this read
        #expect(uart.inb(2) == 0x01)
    }

    @Test func modemStatusDeltasInLoopback() {
        uart.outb(1, 0x08)
        uart.outb(4, 0x10)
        _ = uart.inb(6)
        uart.outb(4, 0x13)  // DTR and RTS -> DSR and CTS
        #expect(uart.inb(2) == 0x00)  // modem status interrupt
        #expect(uart.inb(6) == 0x33)
        #expect(uart.inb(2) == 0x01)
        uart.outb(4, 0x14)  // OUT1 -> RI on
        _ = uart.inb(6)
        uart.outb(4, 0x10)  // RI off: trailing edge
        #expect(uart.inb(6) & 0x04 == 0x04)
    }

    @Test func hostOverrunIsBoundedAndReported() {
        let burst = [UInt8](repeating: 0x55, count: 100_000)
        #expect(uart.availableInputCapacity == 64)
        let accepted = uart.receive(burst)
        #expect(accepted == 64)
        #expect(uart.availableInputCapacity == 1)  // FIFO off: one byte moved to RBR
        #expect(uart.inb(5) & 0x02 == 0x02)
        #expect(uart.inb(5) & 0x02 == 0)  // OE clears on read
        var count = 0
        while uart.inb(5) & 0x01 != 0, count < 1000 {
            _ = uart.inb(0)
            count += 1
        }
        #expect(count == 64)
    }

    @Test func loopbackOverrunWithoutFIFO() {
        uart.outb(4, 0x10)
        uart.outb(0, 1)
        uart.outb(0, 2)
        #expect(uart.inb(5) & 0x03 == 0x03)
        #expect(uart.inb(0) == 1)
    }

    @Test func fifoClearDropsReceivedData() {
        uart.outb(2, 0x01)
        uart.receive([1, 2, 3])
        uart.outb(2, 0x03)
        #expect(uart.inb(5) & 0x01 == 0)
    }

    @Test func magicSysRqSequence() {
        uart.outb(2, 0xC7)
        uart.sendBreak()
        uart.receive(Array("o".utf8))
        let lsr = uart.inb(5)
        #expect(lsr & 0x10 != 0)
        #expect(lsr & 0x80 != 0)
        #expect(uart.inb(0) == 0)
        #expect(uart.inb(5) & 0x11 == 0x01)
        #expect(uart.inb(0) == UInt8(ascii: "o"))
    }

    @Test func wideAndOutOfRangeAccessesAreSafe() {
        // A word write at offset 7 writes SCR and drops the byte beyond the UART.
        uart.ioWrite(offset: 7, width: .word, value: 0xBBAA)
        #expect(uart.inb(7) == 0xAA)
        #expect(uart.ioRead(offset: 7, width: .dword) == 0xFFFF_FFAA)
        #expect(uart.ioRead(offset: 200, width: .qword) == UInt64.max)
        var random = TestRandom(seed: 42)
        for _ in 0..<20_000 {
            let width = allWidths[random.next(below: allWidths.count)]
            let offset = UInt16(truncatingIfNeeded: random.next(below: 12))
            if random.next(below: 2) == 0 {
                _ = uart.ioRead(offset: offset, width: width)
            } else {
                uart.ioWrite(offset: offset, width: width, value: random.next())
            }
        }
        uart.reset()
        #expect(linuxAutoconfig(uart) == "16550A")
    }

    @Test func concurrentHostAndGuestAccess() async {
        uart.outb(4, 0x08)
        uart.outb(1, 0x03)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [uart] in
                for i in 0..<2000 { uart.receive([UInt8(truncatingIfNeeded: i)]) }
            }
            group.addTask { [uart] in
                for _ in 0..<4000 {
                    _ = uart.inb(2)
                    _ = uart.inb(0)
                    uart.outb(0, 0x2E)
                }
            }
        }
        #expect(out.written.count == 4000)
    }
}
