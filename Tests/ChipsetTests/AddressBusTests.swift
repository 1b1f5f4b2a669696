import Testing

@testable import Chipset

/// A port device that echoes the offset it was given and records writes.
final class OffsetEchoDevice: PortIODevice, MMIODevice {
    let name: String
    init(name: String) { self.name = name }
    func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 { UInt64(offset) | 0xAB00 }
    func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {}
    func mmioRead(offset: UInt64, width: AccessWidth) -> UInt64 { offset }
    func mmioWrite(offset: UInt64, width: AccessWidth, value: UInt64) {}
}

@Suite struct AddressBusTests {
    @Test func registrationAndLookupOffsets() throws {
        let bus = PortIOBus(name: "io")
        try bus.register(OffsetEchoDevice(name: "a"), at: IOPort(0x3F8), count: 8)
        try bus.register(OffsetEchoDevice(name: "b"), at: IOPort(0x400), count: 1)  // adjacent
        #expect(bus.read(IOPort(0x3F8), width: .word) == 0xAB00)
        #expect(bus.read(IOPort(0x3FF), width: .word) == 0xAB07)
        #expect(bus.read(IOPort(0x400), width: .byte) == 0x00)  // truncated to the width
        #expect(bus.lookup(0x3FB)?.offset == 3)
        #expect(bus.lookup(0x3FB)?.entry.name == "a")
        #expect(bus.entries.map(\.name) == ["a", "b"])
    }

    @Test func overlapsAreRejectedBothWays() throws {
        let bus = PortIOBus(name: "io")
        try bus.register(OffsetEchoDevice(name: "a"), at: IOPort(0x60), count: 5)
        #expect(throws: BusError.overlap(name: "b", base: 0x64, existing: "a")) {
            try bus.register(OffsetEchoDevice(name: "b"), at: IOPort(0x64), count: 1)
        }
        #expect(throws: BusError.self) {
            try bus.register(OffsetEchoDevice(name: "c"), at: IOPort(0x50), count: 0x20)
        }
        #expect(throws: BusError.self) {
            try bus.register(OffsetEchoDevice(name: "d"), at: IOPort(0x5F), count: 2)
        }
        try bus.register(OffsetEchoDevice(name: "e"), at: IOPort(0x65), count: 1)
    }

    @Test func emptyAndWrappingRangesAreRejected() {
        let mmio = MMIOBus(name: "mmio")
        #expect(throws: BusError.emptyRange(base: 0x1000)) {
            try mmio.register(OffsetEchoDevice(name: "a"), at: 0x1000, length: 0)
        }
        #expect(throws: BusError.emptyRange(base: UInt64.max)) {
            try mmio.register(OffsetEchoDevice(name: "b"), at: UInt64.max, length: 2)
        }
        #expect((try? mmio.register(OffsetEchoDevice(name: "c"), at: UInt64.max, length: 1)) != nil)
        #expect(mmio.read(UInt64.max, width: .byte) == 0)
    }

    @Test func missesReadAllOnesAndIgnoreWrites() {
        let bus = PortIOBus(name: "io")
        for width in AccessWidth.allCases {
            #expect(bus.read(IOPort(0x1234), width: width) == width.allOnes)
            bus.write(IOPort(0x1234), width: width, value: 0)
        }
        let mmio = MMIOBus(name: "mmio")
        #expect(mmio.read(0xFED0_0000, width: .qword) == UInt64.max)
        #expect(mmio.read(0xFED0_0000, width: .dword) == 0xFFFF_FFFF)
    }

    @Test func missLogMemoryIsBounded() {
        let mmio = MMIOBus(name: "mmio")
        for i in 0..<UInt64(10_000) { _ = mmio.read(0xC000_0000 + i * 8, width: .qword) }
        #expect(mmio.loggedMissCount == MMIOBus.maxLoggedMisses)
    }

    @Test func unregisterFreesTheRange() throws {
        let mmio = MMIOBus(name: "mmio")
        try mmio.register(OffsetEchoDevice(name: "hot"), at: 0xFE00_0000, length: 0x1000)
        #expect(mmio.read(0xFE00_0010, width: .dword) == 0x10)
        mmio.unregister(name: "hot")
        #expect(mmio.read(0xFE00_0010, width: .dword) == 0xFFFF_FFFF)
        try mmio.register(OffsetEchoDevice(name: "again"), at: 0xFE00_0000, length: 0x1000)
    }
}
