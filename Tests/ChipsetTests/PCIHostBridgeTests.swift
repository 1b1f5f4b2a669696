import Synchronization
import Testing

@testable import Chipset

/// A function that records config writes, for slot-registration tests.
final class RecordingPCIFunction: PCIConfigDevice {
    let name = "recorder"
    private let space = Mutex(PCIConfigSpace())
    init() {
        space.withLock { s in
            s.set32(0, 0x1234_1AF4)
            s.allowWrites(0x10, mask: 0xF0)
            s.allowWrites(0x11, mask: 0xFF)
        }
    }
    func configRead(offset: UInt8) -> UInt32 { space.withLock { $0.read32(offset) } }
    func configWrite(offset: UInt8, value: UInt32, byteMask: UInt8) {
        space.withLock { $0.write32(offset, value: value, byteMask: byteMask) }
    }
}

@Suite struct PCIHostBridgeTests {
    let platform = RecordingPlatformControl()
    let pci: PCIHostBridge
    let bus = PortIOBus(name: "io")

    init() throws {
        pci = PCIHostBridge(platform: platform)
        try pci.attach(to: bus)
    }

    func configRead(bus b: UInt32 = 0, device: UInt32, function: UInt32 = 0, register: UInt32) -> UInt32 {
        bus.write(IOPort(0xCF8), width: .dword, value: UInt64(0x8000_0000 | b << 16 | device << 11 | function << 8 | register))
        return UInt32(bus.read(IOPort(0xCFC), width: .dword))
    }

    /// Linux arch/x86/pci/direct.c pci_check_type1() and pci_sanity_check().
    @Test func linuxType1Detection() {
        bus.write(IOPort(0xCFB), width: .byte, value: 0x01)
        let saved = bus.read(IOPort(0xCF8), width: .dword)
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0000)
        #expect(bus.read(IOPort(0xCF8), width: .dword) == 0x8000_0000)
        bus.write(IOPort(0xCF8), width: .dword, value: saved)
        // Sanity check: some device on bus 0 is a host bridge or made by Intel.
        var found = false
        for device: UInt32 in 0..<32 {
            let classWord = configRead(device: device, register: 0x08) >> 16
            let vendor = configRead(device: device, register: 0) & 0xFFFF
            if classWord == 0x0600 || vendor == 0x8086 { found = true }
        }
        #expect(found)
    }

    @Test func hostBridgeHeader() {
        #expect(configRead(device: 0, register: 0x00) == 0x1237_8086)
        #expect(configRead(device: 0, register: 0x08) == 0x0600_0002)
        #expect(configRead(device: 0, register: 0x0C) & 0x00FF_0000 == 0)  // header type 0
        #expect(configRead(device: 0, register: 0x04) == 0x0280_0006)
    }

    @Test func emptySlotsAndDisabledAccessReadAllOnes() {
        #expect(configRead(device: 1, register: 0) == 0xFFFF_FFFF)
        #expect(configRead(device: 0, function: 1, register: 0) == 0xFFFF_FFFF)
        #expect(configRead(bus: 1, device: 0, register: 0) == 0xFFFF_FFFF)
        bus.write(IOPort(0xCF8), width: .dword, value: 0x0000_0000)  // enable bit clear
        #expect(bus.read(IOPort(0xCFC), width: .dword) == 0xFFFF_FFFF)
    }

    @Test func subDwordAccessesAtEveryOffset() {
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0000)
        #expect(bus.read(IOPort(0xCFC), width: .word) == 0x8086)
        #expect(bus.read(IOPort(0xCFE), width: .word) == 0x1237)
        #expect(bus.read(IOPort(0xCFD), width: .byte) == 0x80)
        #expect(bus.read(IOPort(0xCFF), width: .byte) == 0x12)
        // Unaligned: a word at 0xCFF has one byte past the data window.
        #expect(bus.read(IOPort(0xCFF), width: .word) == 0xFF12)
        #expect(bus.read(IOPort(0xCFD), width: .dword) == 0xFF12_3780)
        // Register bits 1:0 are ignored in CONFIG_ADDRESS.
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0003)
        #expect(bus.read(IOPort(0xCF8), width: .dword) == 0x8000_0000)
    }

    @Test func commandRegisterWritesRespectMask() {
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0004)
        bus.write(IOPort(0xCFC), width: .word, value: 0xFFFF)
        #expect(bus.read(IOPort(0xCFC), width: .word) == 0x0147)
        #expect(bus.read(IOPort(0xCFE), width: .word) == 0x0280)  // status untouched
        // Vendor/device IDs are read-only.
        bus.write(IOPort(0xCF8), width: .dword, value: 0x8000_0000)
        bus.write(IOPort(0xCFC), width: .dword, value: 0)
        #expect(bus.read(IOPort(0xCFC), width: .dword) == 0x1237_8086)
    }

    @Test func slotRegistration() throws {
        let function = RecordingPCIFunction()
        let address = try #require(PCIAddress(device: 3))
        try pci.register(function, at: address)
        #expect(configRead(device: 3, register: 0) == 0x1234_1AF4)
        // Byte write into the BAR lands in its lane with the mask applied.
        bus.write(IOPort(0xCF8), width: .dword, value: UInt64(0x8000_0000 | 3 << 11 | 0x10))
        bus.write(IOPort(0xCFD), width: .byte, value: 0xAB)
        bus.write(IOPort(0xCFC), width: .byte, value: 0xFF)
        #expect(bus.read(IOPort(0xCFC), width: .dword) == 0x0000_ABF0)
        #expect(throws: PCIRegistrationError.self) { try pci.register(RecordingPCIFunction(), at: address) }
        #expect(throws: PCIRegistrationError.self) { try pci.register(RecordingPCIFunction(), at: PCIHostBridge.hostBridgeAddress) }
        pci.unregister(at: address)
        #expect(configRead(device: 3, register: 0) == 0xFFFF_FFFF)
        #expect(PCIAddress(device: 32) == nil)
        #expect(PCIAddress(device: 0, function: 8) == nil)
        #expect(address.description == "00:03.0")
    }

    @Test func resetControlRegisterLikeLinuxRebootPCI() {
        let cf9 = UInt8(bus.read(IOPort(0xCF9), width: .byte)) & ~0x06
        bus.write(IOPort(0xCF9), width: .byte, value: UInt64(cf9 | 0x02))
        #expect(platform.requests.isEmpty)
        bus.write(IOPort(0xCF9), width: .byte, value: UInt64(cf9 | 0x06))
        #expect(platform.requests == [.reset])
    }

    @Test func hostileAccessesNeverCrash() {
        var random = TestRandom(seed: 11)
        for _ in 0..<20_000 {
            let port = IOPort(0xCF8 + UInt16(random.next(below: 8)))
            let width = allWidths[random.next(below: allWidths.count)]
            if random.next(below: 2) == 0 {
                _ = bus.read(port, width: width)
            } else {
                var value = random.next()
                if port.rawValue == 0xCF9 { value &= ~0x04 }
                bus.write(port, width: width, value: value)
            }
        }
        #expect(configRead(device: 0, register: 0) == 0x1237_8086)
    }
}
