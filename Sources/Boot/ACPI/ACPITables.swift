import GuestMemory

/// A complete set of ACPI tables placed at fixed guest addresses: RSDP, XSDT, FADT, MADT, DSDT.
///
/// Build once with `build(config:)`, then `install(into:)` copies them into guest RAM and
/// returns the RSDP address for `boot_params.acpi_rsdp_addr`.
public struct ACPITables: Sendable, Hashable {
    /// One table and where it goes.
    public struct Table: Sendable, Hashable {
        /// "RSD PTR " for the RSDP, else the 4-character signature.
        public var signature: String
        public var address: GuestPhysicalAddress
        public var bytes: [UInt8]
    }

    /// In placement order, RSDP first.
    public var tables: [Table]
    public var rsdpAddress: GuestPhysicalAddress

    /// Lays the tables out from `config.baseAddress` (16-byte aligned each) up to the end of
    /// the ACPI area (1 MiB).
    /// - Throws: `ACPIError` for a bad vCPU count or base, or tables that do not fit.
    public static func build(config: ACPIConfiguration) throws(ACPIError) -> ACPITables {
        guard (1...255).contains(config.vcpuCount) else { throw .invalidVCPUCount(config.vcpuCount) }
        let base = config.baseAddress
        guard base % 16 == 0, base >= BootLayout.acpiAreaStart, base < BootLayout.acpiAreaEnd else {
            throw .invalidBaseAddress(base)
        }
        func align(_ v: UInt64) -> UInt64 { (v + 15) & ~15 }
        let B = ACPITableBuilder.self
        let dsdt = B.dsdt(aml: DSDT.aml(for: config), config: config)
        let madt = B.madt(config: config)
        let rsdpAddress = base
        let xsdtAddress = align(rsdpAddress + 36)
        let xsdtSize = UInt64(B.headerSize + 2 * 8)
        let fadtAddress = align(xsdtAddress + xsdtSize)
        let madtAddress = align(fadtAddress + UInt64(B.fadtSize))
        let dsdtAddress = align(madtAddress + UInt64(madt.count))
        let end = dsdtAddress + UInt64(dsdt.count)
        guard end <= BootLayout.acpiAreaEnd else {
            throw .tablesTooLarge(size: Int(end - base), available: Int(BootLayout.acpiAreaEnd - base))
        }
        let xsdt = B.xsdt(entries: [fadtAddress, madtAddress], config: config)
        let fadt = B.fadt(dsdtAddress: dsdtAddress, config: config)
        let rsdp = B.rsdp(xsdtAddress: xsdtAddress, config: config)
        let tables = [
            Table(signature: "RSD PTR ", address: GuestPhysicalAddress(rsdpAddress), bytes: rsdp),
            Table(signature: "XSDT", address: GuestPhysicalAddress(xsdtAddress), bytes: xsdt),
            Table(signature: "FACP", address: GuestPhysicalAddress(fadtAddress), bytes: fadt),
            Table(signature: "APIC", address: GuestPhysicalAddress(madtAddress), bytes: madt),
            Table(signature: "DSDT", address: GuestPhysicalAddress(dsdtAddress), bytes: dsdt),
        ]
        return ACPITables(tables: tables, rsdpAddress: GuestPhysicalAddress(rsdpAddress))
    }

    /// The table with this signature, if present.
    public func table(_ signature: String) -> Table? { tables.first { $0.signature == signature } }

    /// Copies every table into guest RAM.
    /// - Returns: the RSDP's address.
    @discardableResult
    public func install(into memory: GuestMemory) throws(GuestMemoryError) -> GuestPhysicalAddress {
        for table in tables { try memory.write(table.bytes, at: table.address) }
        return rsdpAddress
    }
}
