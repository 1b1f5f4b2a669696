import Testing
@testable import GuestMemory

@Suite struct GuestMemoryTests {
    @Test func readWriteRoundTrip() throws {
        let mem = GuestMemory.heapBacked(size: 0x10000)
        try mem.write([1, 2, 3, 4], at: GuestPhysicalAddress(0x100))
        #expect(try mem.read(at: GuestPhysicalAddress(0x100), count: 4) == [1, 2, 3, 4])
        #expect(try mem.load(UInt32.self, at: GuestPhysicalAddress(0x100)) == 0x0403_0201)
        try mem.store(UInt64(0x1122_3344_5566_7788), at: GuestPhysicalAddress(0x203))
        #expect(try mem.read(at: GuestPhysicalAddress(0x203), count: 2) == [0x88, 0x77])
    }

    @Test func accessesOutsideRAMAreRefused() throws {
        let mem = GuestMemory.heapBacked(size: 0x1000)
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestPhysicalAddress(0xFFE), count: 4)) {
            try mem.load(UInt32.self, at: GuestPhysicalAddress(0xFFE))
        }
        #expect(throws: GuestMemoryError.self) { try mem.read(at: GuestPhysicalAddress(UInt64.max), count: 2) }
        #expect(throws: GuestMemoryError.self) { try mem.write([1], at: GuestPhysicalAddress(0x1000)) }
        #expect(throws: GuestMemoryError.self) { try mem.read(at: GuestPhysicalAddress(0), count: -1) }
        #expect(try mem.read(at: GuestPhysicalAddress(0xFFF), count: 1) == [0])
    }

    @Test func accessesDoNotSpanRegionGaps() throws {
        let a = try #require(GuestAddressRange(start: GuestPhysicalAddress(0), length: 0x1000))
        let b = try #require(GuestAddressRange(start: GuestPhysicalAddress(0x2000), length: 0x1000))
        let mem = try GuestMemory.anonymous(regions: [b, a])
        #expect(mem.ranges == [a, b])
        #expect(throws: GuestMemoryError.self) { try mem.read(at: GuestPhysicalAddress(0xFFF), count: 2) }
        try mem.store(UInt8(7), at: GuestPhysicalAddress(0x2FFF))
        #expect(try mem.load(UInt8.self, at: GuestPhysicalAddress(0x2FFF)) == 7)
    }

    @Test func layoutErrors() throws {
        let a = try #require(GuestAddressRange(start: GuestPhysicalAddress(0), length: 0x2000))
        let b = try #require(GuestAddressRange(start: GuestPhysicalAddress(0x1000), length: 0x1000))
        #expect(throws: GuestMemoryError.overlappingRegions(a, b)) { try GuestMemory.heapBacked(regions: [a, b]) }
        let odd = try #require(GuestAddressRange(start: GuestPhysicalAddress(0x10), length: 0x1000))
        #expect(throws: GuestMemoryError.misalignedRegion(odd)) { try GuestMemory.anonymous(regions: [odd]) }
        #expect(GuestAddressRange(start: GuestPhysicalAddress(UInt64.max), length: 2) == nil)
        #expect(GuestAddressRange(start: GuestPhysicalAddress(0), length: 0) == nil)
        #expect(GuestPhysicalAddress(UInt64.max).advanced(by: 1) == nil)
    }

    @Test func atomics() throws {
        let mem = GuestMemory.heapBacked(size: 0x1000)
        try mem.atomicStore32(5, at: GuestPhysicalAddress(8))
        #expect(try mem.atomicLoad32(at: GuestPhysicalAddress(8)) == 5)
        #expect(try mem.compareExchange32(expected: 5, desired: 9, at: GuestPhysicalAddress(8)) == 5)
        #expect(try mem.compareExchange32(expected: 5, desired: 1, at: GuestPhysicalAddress(8)) == 9)
        #expect(try mem.atomicFetchOr64(0b100, at: GuestPhysicalAddress(16)) == 0)
        #expect(try mem.atomicFetchAnd64(~0b100, at: GuestPhysicalAddress(16)) == 0b100)
        #expect(try mem.atomicLoad64(at: GuestPhysicalAddress(16)) == 0)
        #expect(throws: GuestMemoryError.self) { try mem.atomicLoad32(at: GuestPhysicalAddress(2)) }
    }
}
