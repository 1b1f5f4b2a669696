import Testing

@testable import Boot

@Suite struct AMLTests {
    /// Through a `String` value: `AMLName("lit")` would be literal coercion (SE-0213).
    func parse(_ s: String) -> AMLName? { AMLName(s) }

    /// Decodes a PkgLength back into (value, bytes used), to check the encoder at every size.
    func decodePkgLength(_ b: [UInt8]) -> (Int, Int) {
        let extra = Int(b[0] >> 6)
        if extra == 0 { return (Int(b[0] & 0x3F), 1) }
        var v = Int(b[0] & 0x0F)
        for i in 0..<extra { v |= Int(b[1 + i]) << (4 + 8 * i) }
        return (v, 1 + extra)
    }

    @Test func pkgLengthGolden() {
        #expect(AMLTerm.pkgLength(payload: 0) == [0x01])
        #expect(AMLTerm.pkgLength(payload: 62) == [0x3F])
        #expect(AMLTerm.pkgLength(payload: 63) == [0x41, 0x04])  // 65 = 0x041
        #expect(AMLTerm.pkgLength(payload: 4093) == [0x4F, 0xFF])  // 4095
        #expect(AMLTerm.pkgLength(payload: 4094) == [0x81, 0x00, 0x01])  // 4097 = 0x1001
        #expect(AMLTerm.pkgLength(payload: 0xFFFFC) == [0x8F, 0xFF, 0xFF])  // 0xFFFFF
        #expect(AMLTerm.pkgLength(payload: 0xFFFFD) == [0xC1, 0x00, 0x00, 0x01])  // 0x100001
    }

    @Test func pkgLengthRoundTripsAtAllBoundaries() {
        let sizes = Array(0..<5000) + [65_530, 65_540, 0xFFFF0, 0xFFFFB, 0xFFFFC, 0xFFFFD, 0xFFFFE, 0x100000, 0xFFF_FFF0]
        for payload in sizes {
            let enc = AMLTerm.pkgLength(payload: payload)
            let (value, used) = decodePkgLength(enc)
            #expect(used == enc.count)
            #expect(value == payload + enc.count, "payload \(payload)")
            // The smallest encoding: one byte fewer could not hold the value.
            if enc.count > 1 {
                let cap = enc.count == 2 ? 0x40 : 1 << (4 + 8 * (enc.count - 2))
                #expect(payload + enc.count - 1 >= cap, "payload \(payload)")
            }
        }
    }

    @Test func integersUseTheSmallestEncoding() {
        #expect(AMLTerm.integer(0).bytes == [0x00])
        #expect(AMLTerm.integer(1).bytes == [0x01])
        #expect(AMLTerm.integer(2).bytes == [0x0A, 0x02])
        #expect(AMLTerm.integer(0xFF).bytes == [0x0A, 0xFF])
        #expect(AMLTerm.integer(0x100).bytes == [0x0B, 0x00, 0x01])
        #expect(AMLTerm.integer(0xFFFF).bytes == [0x0B, 0xFF, 0xFF])
        #expect(AMLTerm.integer(0x10000).bytes == [0x0C, 0x00, 0x00, 0x01, 0x00])
        #expect(AMLTerm.integer(0x1_0000_0000).bytes == [0x0E, 0, 0, 0, 0, 1, 0, 0, 0])
        #expect(AMLTerm.integer(UInt64.max).bytes == [0xFF])
    }

    @Test func namesAndStrings() {
        #expect(parse("_HID")?.encoded == [0x5F, 0x48, 0x49, 0x44])
        #expect(parse("RTC")?.encoded == [0x52, 0x54, 0x43, 0x5F])
        #expect(parse("\\_SB")?.encoded == [0x5C, 0x5F, 0x53, 0x42, 0x5F])
        #expect(parse("\\_SB.COM1")?.encoded == [0x5C, 0x2E, 0x5F, 0x53, 0x42, 0x5F, 0x43, 0x4F, 0x4D, 0x31])
        #expect(parse("A.B.C")?.encoded == [0x2F, 0x03, 0x41, 0x5F, 0x5F, 0x5F, 0x42, 0x5F, 0x5F, 0x5F, 0x43, 0x5F, 0x5F, 0x5F])
        #expect(parse("^STA")?.encoded == [0x5E, 0x53, 0x54, 0x41, 0x5F])
        #expect(parse("\\")?.encoded == [0x5C, 0x00])
        for bad in ["1ABC", "TOOLONG", "lower", "A..B", "A.", "A-B", "\\^A"] { #expect(parse(bad) == nil, "\(bad)") }
        #expect(AMLTerm.string("VMBus").bytes == [0x0D, 0x56, 0x4D, 0x42, 0x75, 0x73, 0x00])
        #expect(AMLTerm.eisaID("PNP0501").bytes == [0x0C, 0x41, 0xD0, 0x05, 0x01])
        #expect(AMLTerm.eisaID("PNP0B00").bytes == [0x0C, 0x41, 0xD0, 0x0B, 0x00])
        #expect(EISAID(String("PNP05G1")) == nil && EISAID(String("pnp0501")) == nil && EISAID(String("PNP050")) == nil)
    }

    @Test func objectsGolden() {
        // Name (\_S5, Package () { 5, 5, 0, 0 }), as iasl encodes it.
        #expect(DSDT.s5.bytes == [0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00])
        // Method (_STA, 0, NotSerialized) { Return (STA) }
        #expect(
            AMLTerm.method("_STA", [.ret(.reference("STA"))]).bytes
                == [0x14, 0x0B, 0x5F, 0x53, 0x54, 0x41, 0x00, 0xA4, 0x53, 0x54, 0x41, 0x5F])
        // And (STA, 0x0D, STA) / Or (STA, 0x0F, STA)
        #expect(
            AMLTerm.and(.reference("STA"), .integer(0x0D), .reference("STA")).bytes
                == [0x7B, 0x53, 0x54, 0x41, 0x5F, 0x0A, 0x0D, 0x53, 0x54, 0x41, 0x5F])
        #expect(AMLTerm.or(.local(0), .arg(1), nil).bytes == [0x7D, 0x60, 0x69, 0x00])
        #expect(AMLTerm.store(.integer(3), .local(2)).bytes == [0x70, 0x0A, 0x03, 0x62])
        // Method flags: 2 args, serialized.
        #expect(AMLTerm.method("FOO", arguments: 2, serialized: true, []).bytes == [0x14, 0x06, 0x46, 0x4F, 0x4F, 0x5F, 0x0A])
        // Device (X) {} and Scope (\_SB) {}
        #expect(AMLTerm.device("X", []).bytes == [0x5B, 0x82, 0x05, 0x58, 0x5F, 0x5F, 0x5F])
        #expect(AMLTerm.scope("\\_SB", []).bytes == [0x10, 0x06, 0x5C, 0x5F, 0x53, 0x42, 0x5F])
        // Buffer (3) {1, 2, 3}
        #expect(AMLTerm.buffer([1, 2, 3]).bytes == [0x11, 0x06, 0x0A, 0x03, 1, 2, 3])
        // A device larger than 63 bytes takes a 2-byte PkgLength.
        let big = AMLTerm.device("BIG", [.name("_STR", .string(String(repeating: "a", count: 80)))])
        #expect(big.bytes.count == 2 + 2 + 4 + 1 + 4 + 82)
        #expect(Array(big.bytes[2..<4]) == AMLTerm.pkgLength(payload: 4 + 1 + 4 + 82))
    }

    @Test func resourceTemplatesGolden() {
        let com1 = ResourceTemplate().io(minimum: 0x3F8, maximum: 0x3F8, alignment: 8, length: 8).irqNoFlags([4])
        #expect(com1.bytes == [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x08, 0x08, 0x22, 0x10, 0x00, 0x79, 0x07])
        #expect(com1.bytes.reduce(UInt8(0), &+) == 0)  // End Tag checksum
        #expect(ResourceTemplate().bytes == [0x79, 0x87])
        #expect(ResourceTemplate().term.bytes == [0x11, 0x05, 0x0A, 0x02, 0x79, 0x87])
        let irq = ResourceTemplate().irq([9], edgeTriggered: false, activeLow: true, shared: true)
        #expect(Array(irq.bytes.prefix(4)) == [0x23, 0x00, 0x02, 0x18])
        let q = ResourceTemplate().qwordMemory(base: 0xF800_0000, length: 0x400_0000).bytes
        #expect(q.count == 46 + 2)
        #expect(Array(q.prefix(6)) == [0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x03])
        #expect(q.u64(6) == 0 && q.u64(14) == 0xF800_0000 && q.u64(22) == 0xFBFF_FFFF && q.u64(30) == 0 && q.u64(38) == 0x400_0000)
        let d = ResourceTemplate().dwordMemory(base: 0xFED4_0000, length: 0x5000, producer: false, caching: .nonCacheable).bytes
        #expect(Array(d.prefix(6)) == [0x87, 0x17, 0x00, 0x00, 0x0D, 0x01])
        #expect(d.u32(10) == 0xFED4_0000 && d.u32(14) == 0xFED4_4FFF && d.u32(22) == 0x5000)
        #expect(d.reduce(UInt8(0), &+) == 0)
    }
}
