/// Builds a `ResourceTemplate () { ... }` (ACPI 6.5 §6.4 "Resource Data Types"): small and
/// large resource descriptors followed by an End Tag whose checksum makes the bytes sum to 0.
public struct ResourceTemplate: Sendable, Hashable {
    /// The descriptors, without the End Tag.
    public private(set) var descriptors: [UInt8] = []

    public init() {}

    /// Memory caching attribute of an address-space descriptor (`_MEM`).
    public struct Caching: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let nonCacheable = Self(rawValue: 0)
        public static let cacheable = Self(rawValue: 1)
        public static let writeCombining = Self(rawValue: 2)
        public static let prefetchable = Self(rawValue: 3)
    }

    /// `IO (Decode16|Decode10, min, max, alignment, length)`: small item 0x47, 7 bytes (§6.4.2.5).
    public func io(minimum: UInt16, maximum: UInt16, alignment: UInt8, length: UInt8, decode16: Bool = true) -> Self {
        var copy = self
        copy.descriptors += [0x47, decode16 ? 1 : 0]
        copy.descriptors.appendLE(minimum)
        copy.descriptors.appendLE(maximum)
        copy.descriptors += [alignment, length]
        return copy
    }

    /// `IRQNoFlags () { irqs }`: small item 0x22, a 16-bit mask (§6.4.2.1); IRQs above 15 are dropped.
    public func irqNoFlags(_ irqs: [UInt8]) -> Self {
        var copy = self
        copy.descriptors.append(0x22)
        copy.descriptors.appendLE(Self.mask(irqs))
        return copy
    }

    /// `IRQ (Edge|Level, ActiveHigh|ActiveLow, Exclusive|Shared) { irqs }`: small item 0x23 (§6.4.2.1).
    public func irq(_ irqs: [UInt8], edgeTriggered: Bool, activeLow: Bool, shared: Bool = false) -> Self {
        var copy = self
        copy.descriptors.append(0x23)
        copy.descriptors.appendLE(Self.mask(irqs))
        copy.descriptors.append((edgeTriggered ? 0x01 : 0) | (activeLow ? 0x08 : 0) | (shared ? 0x10 : 0))
        return copy
    }

    /// `QWordMemory (ResourceProducer|Consumer, PosDecode, MinFixed, MaxFixed, caching,
    /// ReadWrite|ReadOnly, 0, base, base+length-1, 0, length)`: large item 0x8A, 43 bytes (§6.4.3.5.1).
    public func qwordMemory(
        base: UInt64, length: UInt64, producer: Bool = true, caching: Caching = .cacheable, writable: Bool = true
    ) -> Self {
        var copy = self
        copy.descriptors.append(0x8A)
        copy.descriptors.appendLE(UInt16(43))
        copy.descriptors += Self.addressSpaceFlags(producer: producer, caching: caching, writable: writable)
        for v in [0, base, base &+ length &- 1, 0, length] { copy.descriptors.appendLE(UInt64(v)) }
        return copy
    }

    /// `DWordMemory (...)`: large item 0x87, 23 bytes (§6.4.3.5.2).
    public func dwordMemory(
        base: UInt32, length: UInt32, producer: Bool = true, caching: Caching = .cacheable, writable: Bool = true
    ) -> Self {
        var copy = self
        copy.descriptors.append(0x87)
        copy.descriptors.appendLE(UInt16(23))
        copy.descriptors += Self.addressSpaceFlags(producer: producer, caching: caching, writable: writable)
        for v in [0, base, base &+ length &- 1, 0, length] { copy.descriptors.appendLE(UInt32(v)) }
        return copy
    }

    /// Resource type 0 (memory), general flags (MinFixed|MaxFixed, PosDecode, producer bit 0
    /// clear), type-specific flags (RW bit 0, `_MEM` bits 1-2).
    private static func addressSpaceFlags(producer: Bool, caching: Caching, writable: Bool) -> [UInt8] {
        [0x00, 0x0C | (producer ? 0 : 0x01), (writable ? 0x01 : 0) | (caching.rawValue & 3) << 1]
    }

    private static func mask(_ irqs: [UInt8]) -> UInt16 {
        irqs.filter { $0 < 16 }.reduce(UInt16(0)) { $0 | 1 << UInt16($1) }
    }

    /// The template's bytes: descriptors, then End Tag (0x79) and its checksum.
    public var bytes: [UInt8] {
        let body = descriptors + [0x79]
        let sum = body.reduce(UInt8(0)) { $0 &+ $1 }
        return body + [0 &- sum]
    }

    /// The template as an AML Buffer, ready for `Name (_CRS, ...)`.
    public var term: AMLTerm { .buffer(bytes) }
}
