import GuestMemory

/// Fixed guest-physical addresses of the direct-boot platform (docs/boot.md has the map).
///
/// DEVNOTE: the low boot structures sit where Firecracker puts them, below the EBDA
/// (0x9FC00) and above the real-mode IVT/BDA. Linux copies `boot_params` and the command
/// line into its own image and switches to its own page tables and stack within the first
/// instructions of `startup_64`, before anything can allocate this memory.
public enum BootLayout {
    /// GDT: null, null, `__BOOT_CS` (0x10), `__BOOT_DS` (0x18).
    public static let gdtAddress: UInt64 = 0x500
    /// An empty IDT (limit 0): no interrupts are taken before the kernel loads its own.
    public static let idtAddress: UInt64 = 0x520
    /// `boot_params`, the "zero page"; RSI points here at entry.
    public static let zeroPageAddress: UInt64 = 0x7000
    /// Initial stack pointer (the stack grows down towards the zero page's end at 0x8000).
    public static let stackPointer: UInt64 = 0x8FF0
    /// PML4 (CR3).
    public static let pml4Address: UInt64 = 0x9000
    /// PDPT: four entries, one per GiB.
    public static let pdptAddress: UInt64 = 0xA000
    /// Four page directories of 2 MiB pages, 0xB000-0xEFFF, identity-mapping 0-4 GiB.
    public static let pageDirectoryAddress: UInt64 = 0xB000
    /// How many page directories (GiB) the boot page tables map.
    public static let pageDirectoryCount = 4
    /// The kernel command line (NUL-terminated), up to `commandLineMaxBytes`.
    public static let commandLineAddress: UInt64 = 0x20000
    /// Room reserved for the command line in guest RAM (the kernel's own limit is smaller).
    public static let commandLineMaxBytes = 0x10000
    /// End of conventional low RAM; 0x9FC00-0xFFFFF is reserved (EBDA, VGA, BIOS, ACPI).
    public static let lowRAMEnd: UInt64 = 0x9FC00
    /// ACPI tables live here (inside the E820-reserved legacy area).
    public static let acpiAreaStart: UInt64 = 0xE0000
    /// One past the ACPI area.
    public static let acpiAreaEnd: UInt64 = 0x100000
    /// Kernel segments and the initrd must start at or above 1 MiB.
    public static let highMemoryStart: UInt64 = 0x100000
    /// Start of the 32-bit MMIO hole; RAM above this continues at 4 GiB.
    public static let mmioHoleStart: UInt64 = 0xC000_0000
    /// One past the MMIO hole (4 GiB).
    public static let mmioHoleEnd: UInt64 = 0x1_0000_0000
    /// In-kernel IOAPIC base (GSI base 0).
    public static let ioapicAddress: UInt64 = 0xFEC0_0000
    /// Local APIC base.
    public static let localAPICAddress: UInt64 = 0xFEE0_0000

    /// The RAM regions a guest with `ramSize` bytes gets under this layout: one region from 0
    /// up to 3 GiB, and the rest from 4 GiB. `ramSize` is rounded down to 4 KiB.
    public static func ramRegions(ramSize: UInt64) -> [GuestAddressRange] {
        let size = ramSize & ~0xFFF
        let low = min(size, mmioHoleStart)
        var regions: [GuestAddressRange] = []
        if let r = GuestAddressRange(start: GuestPhysicalAddress(0), length: low) { regions.append(r) }
        if size > low, let r = GuestAddressRange(start: GuestPhysicalAddress(mmioHoleEnd), length: size - low) {
            regions.append(r)
        }
        return regions
    }
}
