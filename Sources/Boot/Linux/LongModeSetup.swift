/// The 64-bit boot environment Linux's `startup_64` expects (boot.rst, "64-bit Boot Protocol"):
/// a GDT with flat `__BOOT_CS` (0x10) and `__BOOT_DS` (0x18), paging on with an identity map,
/// long mode active, and RSI holding the `boot_params` address.
public enum LongModeSetup {
    public static let codeSelector: UInt16 = 0x10
    public static let dataSelector: UInt16 = 0x18

    /// 64-bit code: base 0, limit 0xFFFFF pages, P, DPL 0, S, type 0xB (execute/read,
    /// accessed), L, G.
    public static let codeDescriptor: UInt64 = 0x00AF_9B00_0000_FFFF
    /// Data: base 0, limit 0xFFFFF pages, P, DPL 0, S, type 0x3 (read/write, accessed), D/B, G.
    public static let dataDescriptor: UInt64 = 0x00CF_9300_0000_FFFF

    public static let cr0PE: UInt64 = 1 << 0
    public static let cr0ET: UInt64 = 1 << 4
    public static let cr0NE: UInt64 = 1 << 5
    public static let cr0PG: UInt64 = 1 << 31
    public static let cr4PAE: UInt64 = 1 << 5
    public static let eferLME: UInt64 = 1 << 8
    public static let eferLMA: UInt64 = 1 << 10

    /// The GDT bytes: null, null, code (0x10), data (0x18).
    public static var gdt: [UInt8] {
        var bytes: [UInt8] = []
        for entry in [0, 0, codeDescriptor, dataDescriptor] { bytes.appendLE(entry) }
        return bytes
    }

    /// Page-table entry bits.
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let pageSize: UInt64 = 1 << 7

    /// The identity map of the first `BootLayout.pageDirectoryCount` GiB with 2 MiB pages:
    /// (address, page) pairs for the PML4, the PDPT and each page directory.
    public static var pageTables: [(address: UInt64, bytes: [UInt8])] {
        var pml4 = ByteImage(size: 4096)
        pml4.put(BootLayout.pdptAddress | present | writable, at: 0)
        var pdpt = ByteImage(size: 4096)
        var tables: [(UInt64, [UInt8])] = []
        for gib in 0..<BootLayout.pageDirectoryCount {
            let pdAddress = BootLayout.pageDirectoryAddress + UInt64(gib) * 4096
            pdpt.put(pdAddress | present | writable, at: gib * 8)
            var pd = ByteImage(size: 4096)
            for i in 0..<512 {
                let physical = (UInt64(gib) << 30) | (UInt64(i) << 21)
                pd.put(physical | present | writable | pageSize, at: i * 8)
            }
            tables.append((pdAddress, pd.bytes))
        }
        return [(BootLayout.pml4Address, pml4.bytes), (BootLayout.pdptAddress, pdpt.bytes)] + tables
    }

    /// The register state at the kernel's 64-bit entry.
    public static func initialState(entry: UInt64, bootParams: UInt64) -> InitialCPUState {
        let code = InitialCPUState.Segment(
            base: 0, limit: 0xFFFF_FFFF, selector: codeSelector, type: 0xB, l: true, db: false)
        let data = InitialCPUState.Segment(
            base: 0, limit: 0xFFFF_FFFF, selector: dataSelector, type: 0x3, l: false, db: true)
        var state = InitialCPUState(
            rip: entry, rsp: BootLayout.stackPointer, rsi: bootParams,
            cr0: cr0PE | cr0ET | cr0NE | cr0PG, cr3: BootLayout.pml4Address, cr4: cr4PAE,
            efer: eferLME | eferLMA, gdtBase: BootLayout.gdtAddress, gdtLimit: UInt16(4 * 8 - 1),
            code: code, data: data)
        state.idtBase = BootLayout.idtAddress
        state.idtLimit = 0
        return state
    }
}
