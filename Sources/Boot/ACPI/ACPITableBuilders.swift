/// Builders for the individual tables (ACPI 6.5 §5.2). Layout constants live here; each builder
/// writes its fields at their spec offsets and fixes up the checksum last.
enum ACPITableBuilder {
    static let headerSize = 36
    static let creatorID: [UInt8] = Array("SWHV".utf8)
    static let creatorRevision: UInt32 = 1

    /// Pads or truncates an ASCII identifier to `length` bytes.
    static func padded(_ s: String, _ length: Int) -> [UInt8] {
        let chars = s.utf8.prefix(length).map { (0x20...0x7E).contains($0) ? $0 : 0x20 }
        return chars + [UInt8](repeating: 0x20, count: length - chars.count)
    }

    /// Byte that makes `bytes` sum to zero when stored at `offset` (initially 0).
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt8 {
        0 &- bytes.reduce(UInt8(0)) { $0 &+ $1 }
    }

    /// A System Description Table: the 36-byte header (§5.2.6) followed by `body`.
    static func table(signature: String, revision: UInt8, body: [UInt8], config: ACPIConfiguration) -> [UInt8] {
        var t = ByteImage(size: headerSize + body.count)
        t.put(padded(signature, 4), at: 0)
        t.put(UInt32(headerSize + body.count), at: 4)
        t.put(revision, at: 8)
        t.put(padded(config.oemID, 6), at: 10)
        t.put(padded(config.oemTableID, 8), at: 16)
        t.put(UInt32(1), at: 24)  // OEM revision
        t.put(creatorID, at: 28)
        t.put(creatorRevision, at: 32)
        t.put(body, at: headerSize)
        t.put(checksum(t.bytes), at: 9)
        return t.bytes
    }

    /// RSDP revision 2 (§5.2.5.3): checksum over the first 20 bytes, extended checksum over 36.
    static func rsdp(xsdtAddress: UInt64, config: ACPIConfiguration) -> [UInt8] {
        var r = ByteImage(size: 36)
        r.put(Array("RSD PTR ".utf8), at: 0)
        r.put(padded(config.oemID, 6), at: 9)
        r.put(UInt8(2), at: 15)
        r.put(UInt32(0), at: 16)  // RsdtAddress: none, the XSDT is used
        r.put(UInt32(36), at: 20)
        r.put(xsdtAddress, at: 24)
        r.put(checksum(r.bytes[0..<20]), at: 8)
        r.put(checksum(r.bytes), at: 32)
        return r.bytes
    }

    /// XSDT (§5.2.8): 64-bit pointers to the other tables (not the DSDT).
    static func xsdt(entries: [UInt64], config: ACPIConfiguration) -> [UInt8] {
        var body: [UInt8] = []
        for e in entries { body.appendLE(e) }
        return table(signature: "XSDT", revision: 1, body: body, config: config)
    }

    /// Generic Address Structure (§5.2.3.2): space (1 = system I/O), bit width, bit offset,
    /// access size (1 byte .. 4 qword), address.
    static func gas(space: UInt8 = 1, bitWidth: UInt8, accessSize: UInt8, address: UInt64) -> [UInt8] {
        var g: [UInt8] = [space, bitWidth, 0, accessSize]
        g.appendLE(address)
        return g
    }

    // FADT flags (§5.2.9, Table 5.10).
    static let fadtWBINVD: UInt32 = 1 << 0
    static let fadtProcC1: UInt32 = 1 << 2
    static let fadtPowerButton: UInt32 = 1 << 4
    static let fadtSleepButton: UInt32 = 1 << 5
    static let fadtRTCS4: UInt32 = 1 << 7
    static let fadtResetRegSup: UInt32 = 1 << 10
    static let fadtUsePlatformClock: UInt32 = 1 << 15
    // IAPC_BOOT_ARCH (Table 5.11).
    static let bootArchLegacyDevices: UInt16 = 1 << 0
    static let bootArch8042: UInt16 = 1 << 1
    static let fadtSize = 276

    /// FADT revision 6 (ACPI 6.5 layout, 276 bytes), full (not hardware-reduced): PM1a event
    /// and control blocks in both the legacy and the X_ fields, SCI 9, no PM timer, no GPE,
    /// SMI_CMD 0 (always in ACPI mode), RESET_REG, and both DSDT pointers.
    static func fadt(dsdtAddress: UInt64, config: ACPIConfiguration) -> [UInt8] {
        typealias P = ACPIPlatform
        var f = ByteImage(size: fadtSize - headerSize)
        func at(_ specOffset: Int) -> Int { specOffset - headerSize }
        f.put(UInt32(0), at: at(36))  // FIRMWARE_CTRL: no FACS
        f.put(UInt32(truncatingIfNeeded: dsdtAddress), at: at(40))
        f.put(UInt8(0), at: at(45))  // Preferred_PM_Profile: unspecified
        f.put(P.sciInterrupt, at: at(46))
        f.put(UInt32(0), at: at(48))  // SMI_CMD
        f.put(UInt32(P.pm1aEventBlock), at: at(56))
        f.put(UInt32(P.pm1aControlBlock), at: at(64))
        f.put(P.pm1EventLength, at: at(88))
        f.put(P.pm1ControlLength, at: at(89))
        f.put(UInt16(101), at: at(96))  // P_LVL2_LAT > 100: no C2
        f.put(UInt16(1001), at: at(98))  // P_LVL3_LAT > 1000: no C3
        f.put(bootArchLegacyDevices | bootArch8042, at: at(109))
        let flags =
            fadtWBINVD | fadtProcC1 | fadtPowerButton | fadtSleepButton | fadtRTCS4 | fadtResetRegSup
            | fadtUsePlatformClock
        f.put(flags, at: at(112))
        f.put(gas(bitWidth: 8, accessSize: 1, address: UInt64(P.resetRegister)), at: at(116))
        f.put(P.resetValue, at: at(128))
        f.put(UInt8(5), at: at(131))  // FADT minor version: ACPI 6.5
        f.put(UInt64(0), at: at(132))  // X_FIRMWARE_CTRL
        f.put(dsdtAddress, at: at(140))
        f.put(gas(bitWidth: P.pm1EventLength * 8, accessSize: 2, address: UInt64(P.pm1aEventBlock)), at: at(148))
        f.put(gas(bitWidth: P.pm1ControlLength * 8, accessSize: 2, address: UInt64(P.pm1aControlBlock)), at: at(172))
        return table(signature: "FACP", revision: 6, body: f.bytes, config: config)
    }

    // MADT (§5.2.12).
    static let madtPCATCompat: UInt32 = 1 << 0
    static let ioapicID: UInt8 = 0

    /// MADT: Local APIC address, PCAT_COMPAT, one enabled Local APIC per vCPU, the IOAPIC,
    /// ISOs IRQ0 -> GSI2 and SCI IRQ9 -> GSI9 (level, active high), and LINT1 as NMI.
    static func madt(config: ACPIConfiguration) -> [UInt8] {
        var body: [UInt8] = []
        body.appendLE(UInt32(BootLayout.localAPICAddress))
        body.appendLE(madtPCATCompat)
        for cpu in 0..<config.vcpuCount {
            body += [0, 8, UInt8(cpu), UInt8(cpu)]  // type 0, length, processor UID, APIC ID
            body.appendLE(UInt32(1))  // enabled
        }
        body += [1, 12, ioapicID, 0]
        body.appendLE(UInt32(BootLayout.ioapicAddress))
        body.appendLE(UInt32(0))  // GSI base
        body += interruptSourceOverride(irq: 0, gsi: 2, flags: 0)
        // Polarity 01 (active high), trigger mode 11 (level) << 2.
        body += interruptSourceOverride(irq: UInt8(ACPIPlatform.sciInterrupt), gsi: UInt32(ACPIPlatform.sciInterrupt), flags: 0x000D)
        body += [4, 6, 0xFF, 0, 0, 1]  // Local APIC NMI: all processors, flags 0, LINT1
        return table(signature: "APIC", revision: 5, body: body, config: config)
    }

    static func interruptSourceOverride(irq: UInt8, gsi: UInt32, flags: UInt16) -> [UInt8] {
        var e: [UInt8] = [2, 10, 0, irq]  // type 2, length, bus ISA
        e.appendLE(gsi)
        e.appendLE(flags)
        return e
    }

    /// DSDT revision 2 (64-bit integers) around `aml`.
    static func dsdt(aml: [UInt8], config: ACPIConfiguration) -> [UInt8] {
        table(signature: "DSDT", revision: 2, body: aml, config: config)
    }
}
