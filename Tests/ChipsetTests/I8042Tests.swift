import Testing

@testable import Chipset

/// Linux 6.1 `drivers/input/serio/i8042.c` __i8042_command(): command, parameters, replies,
/// with its bounded waits on IBF/OBF. Returns nil where Linux would time out.
private func linuxI8042Command(
    _ data: any PortIODevice, _ status: any PortIODevice, _ command: UInt16, params: [UInt8] = []
) -> [UInt8]? {
    func waitWrite() -> Bool {
        for _ in 0..<10 where status.inb(0) & 0x02 == 0 { return true }
        return false
    }
    func waitRead() -> Bool {
        for _ in 0..<10 where status.inb(0) & 0x01 != 0 { return true }
        return false
    }
    guard waitWrite() else { return nil }
    status.outb(0, UInt8(command & 0xFF))
    for param in params.prefix(Int((command >> 12) & 0xF)) {
        guard waitWrite() else { return nil }
        data.outb(0, param)
    }
    var replies: [UInt8] = []
    for _ in 0..<Int((command >> 8) & 0xF) {
        guard waitRead() else { return nil }
        if command == 0x11D3, status.inb(0) & 0x20 == 0 { return nil }  // AUX_LOOP needs AUXDATA
        replies.append(data.inb(0))
    }
    return replies
}

/// i8042_flush(): read while OBF, giving up (EIO) after 16 bytes.
private func linuxI8042Flush(_ data: any PortIODevice, _ status: any PortIODevice) -> Bool {
    var count = 0
    while status.inb(0) & 0x01 != 0 {
        guard count < 16 else { return false }
        count += 1
        _ = data.inb(0)
    }
    return true
}

@Suite struct I8042Tests {
    let irq1 = RecordingInterruptLine()
    let irq12 = RecordingInterruptLine()
    let platform = RecordingPlatformControl()
    let controller: I8042
    let data: any PortIODevice
    let status: any PortIODevice

    init() {
        controller = I8042(keyboardInterrupt: irq1, auxInterrupt: irq12, platform: platform)
        data = controller.dataPort
        status = controller.commandPort
    }

    @Test func linuxProbeSequenceCompletes() throws {
        // i8042_controller_check + selftest.
        #expect(linuxI8042Flush(data, status))
        #expect(linuxI8042Command(data, status, 0x01AA) == [0x55])
        // i8042_controller_init: two equal CTR reads, keylock not active, write CTR back.
        let ctr0 = try #require(linuxI8042Command(data, status, 0x0120)?.first)
        let ctr1 = try #require(linuxI8042Command(data, status, 0x0120)?.first)
        #expect(ctr0 == ctr1)
        #expect(ctr0 & 0x40 != 0)  // translated mode, as a BIOS leaves it
        #expect(status.inb(0) & 0x10 != 0)  // I8042_STR_KEYLOCK: not locked
        var ctr = (ctr0 | 0x10) & ~0x01
        #expect(linuxI8042Command(data, status, 0x1060, params: [ctr]) == [])
        #expect(linuxI8042Flush(data, status))
        // Aux loop test (only when noaux is off): the byte comes back as aux data.
        #expect(linuxI8042Command(data, status, 0x11D3, params: [0x5A]) == [0x5A])
        // Keyboard port test, then enable the port with its interrupt.
        #expect(linuxI8042Command(data, status, 0x01AB) == [0x00])
        ctr = (ctr & ~0x10) | 0x01
        #expect(linuxI8042Command(data, status, 0x1060, params: [ctr]) == [])
        #expect(linuxI8042Command(data, status, 0x0120) == [ctr])
        #expect(!irq1.isAsserted)

        // atkbd_probe: GETID and reset, each reply raising IRQ 1 until read.
        data.outb(0, 0xF2)
        #expect(irq1.isAsserted)
        #expect([data.inb(0), data.inb(0), data.inb(0)] == [0xFA, 0xAB, 0x41])
        #expect(!irq1.isAsserted)
        data.outb(0, 0xFF)
        #expect([data.inb(0), data.inb(0)] == [0xFA, 0xAA])
        data.outb(0, 0xED)
        #expect(data.inb(0) == 0xFA)
        data.outb(0, 0x02)
        #expect(data.inb(0) == 0xFA)
        data.outb(0, 0xF3)
        #expect(data.inb(0) == 0xFA)
        data.outb(0, 0x00)
        #expect(data.inb(0) == 0xFA)
        data.outb(0, 0xF4)
        #expect(data.inb(0) == 0xFA)
        #expect(status.inb(0) & 0x01 == 0)
        #expect(!irq1.isAsserted)
        #expect(irq1.risingEdges >= 6)
        #expect(platform.requests.isEmpty)
    }

    @Test func untranslatedID() {
        status.outb(0, 0x60)
        data.outb(0, 0x01)
        data.outb(0, 0xF2)
        #expect([data.inb(0), data.inb(0), data.inb(0)] == [0xFA, 0xAB, 0x83])
    }

    @Test func pulseResetRequestsReset() {
        status.outb(0, 0xFE)
        #expect(platform.requests == [.reset])
        status.outb(0, 0xFF)  // pulses nothing
        #expect(platform.requests == [.reset])
    }

    @Test func outputPortWriteWithResetBitClearResets() {
        status.outb(0, 0xD0)
        #expect(data.inb(0) == 0x03)
        status.outb(0, 0xD1)
        data.outb(0, 0x03)
        #expect(platform.requests.isEmpty)
        status.outb(0, 0xD1)
        data.outb(0, 0x02)
        #expect(platform.requests == [.reset])
    }

    @Test func enableDisableCommandsChangeCTR() {
        status.outb(0, 0xAD)
        status.outb(0, 0xA8)
        status.outb(0, 0x20)
        var ctr = data.inb(0)
        #expect(ctr & 0x10 != 0)
        #expect(ctr & 0x20 == 0)
        status.outb(0, 0xAE)
        status.outb(0, 0xA7)
        status.outb(0, 0x20)
        ctr = data.inb(0)
        #expect(ctr & 0x10 == 0)
        #expect(ctr & 0x20 != 0)
    }

    @Test func statusFlags() {
        #expect(status.inb(0) & 0x01 == 0)
        status.outb(0, 0xAA)
        let st = status.inb(0)
        #expect(st & 0x0D == 0x0D)  // OBF, SYS, last write was a command
        #expect(st & 0x02 == 0)  // IBF never set
        #expect(data.inb(0) == 0x55)
        data.outb(0, 0xEE)
        #expect(status.inb(0) & 0x08 == 0)
        #expect(data.inb(0) == 0xEE)
        // Reading an empty buffer repeats the last byte.
        #expect(data.inb(0) == 0xEE)
    }

    @Test func auxDataRaisesIRQ12NotIRQ1() {
        status.outb(0, 0x60)
        data.outb(0, 0x03)  // both interrupts on
        status.outb(0, 0xD3)
        data.outb(0, 0x77)
        #expect(irq12.isAsserted)
        #expect(!irq1.isAsserted)
        #expect(status.inb(0) & 0x21 == 0x21)
        #expect(data.inb(0) == 0x77)
        #expect(!irq12.isAsserted)
        // A byte for the (absent) aux device times out: 0xFE with TIMEOUT and AUXDATA.
        status.outb(0, 0xD4)
        data.outb(0, 0xF2)
        #expect(status.inb(0) & 0x61 == 0x61)
        #expect(irq12.isAsserted)
        #expect(data.inb(0) == 0xFE)
        #expect(status.inb(0) & 0x61 == 0)
    }

    @Test func injectedScanCodesAreBounded() {
        #expect(controller.injectKeyboardBytes([UInt8](repeating: 0x1E, count: 1000)) == 16)
        #expect(irq1.isAsserted)
        #expect(linuxI8042Flush(data, status))
        #expect(!irq1.isAsserted)
        status.outb(0, 0xAD)
        #expect(controller.injectKeyboardBytes([0x1E]) == 0)
    }

    @Test func unknownKeyboardCommandIsNAKed() {
        data.outb(0, 0x12)
        #expect(data.inb(0) == 0xFE)
    }

    @Test func hostileAccessesNeverCrashOrOverflow() {
        var random = TestRandom(seed: 7)
        for _ in 0..<20_000 {
            let port = random.next(below: 2) == 0 ? data : status
            let width = allWidths[random.next(below: allWidths.count)]
            let offset = UInt16(random.next(below: 3))
            if random.next(below: 2) == 0 {
                _ = port.ioRead(offset: offset, width: width)
            } else {
                // Avoid the reset commands so the loop keeps going; they are tested above.
                var value = random.next()
                if port === status, value & 0xF0 == 0xF0 { value |= 0x01 }
                if port === status, value & 0xFF == 0xD1 { value = 0xD0 }
                port.ioWrite(offset: offset, width: width, value: value)
            }
        }
        #expect(status.ioRead(offset: 0, width: .dword) & 0xFFFF_FF00 == 0xFFFF_FF00)
        #expect(status.ioRead(offset: 1, width: .byte) == 0xFF)
        #expect(linuxI8042Flush(data, status))
        controller.reset()
        #expect(linuxI8042Command(data, status, 0x01AA) == [0x55])
    }

    @Test func attachRegistersBothPorts() throws {
        let bus = PortIOBus(name: "io")
        try controller.attach(to: bus)
        bus.write(IOPort(0x64), width: .byte, value: 0xAA)
        #expect(bus.read(IOPort(0x64), width: .byte) & 0x01 == 0x01)
        #expect(bus.read(IOPort(0x60), width: .byte) == 0x55)
        #expect(bus.read(IOPort(0x61), width: .byte) == 0xFF)
    }
}
