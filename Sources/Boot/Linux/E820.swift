import GuestMemory

/// One BIOS E820 memory map entry (zero-page.rst `e820_table`).
public struct E820Entry: Sendable, Hashable, CustomStringConvertible {
    /// The entry's type; open, as the kernel defines more than we emit.
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let ram = Self(rawValue: 1)
        public static let reserved = Self(rawValue: 2)
        public static let acpi = Self(rawValue: 3)
    }

    public var address: UInt64
    public var size: UInt64
    public var kind: Kind

    public init(address: UInt64, size: UInt64, kind: Kind) {
        self.address = address
        self.size = size
        self.kind = kind
    }

    public var description: String {
        "[0x\(String(address, radix: 16))-0x\(String(address + size - 1, radix: 16))] type \(kind.rawValue)"
    }
}

/// Builds the guest's E820 map from its actual RAM regions and the platform layout.
public enum E820Map {
    /// The map for `memory`: RAM below the EBDA (0-0x9FC00), the legacy area 0x9FC00-0xFFFFF
    /// reserved (EBDA, VGA, BIOS, ACPI tables), RAM from 1 MiB up to the MMIO hole at 3 GiB,
    /// the hole itself reserved, and RAM from 4 GiB on. Only addresses backed by a RAM region
    /// are reported as RAM.
    public static func entries(for ranges: [GuestAddressRange]) -> [E820Entry] {
        let windows: [(UInt64, UInt64)] = [
            (0, BootLayout.lowRAMEnd),
            (BootLayout.highMemoryStart, BootLayout.mmioHoleStart),
            (BootLayout.mmioHoleEnd, UInt64.max),
        ]
        var ram: [E820Entry] = []
        for range in ranges.sorted(by: { $0.start < $1.start }) {
            let start = range.start.rawValue
            let end = range.last.rawValue == UInt64.max ? UInt64.max : range.last.rawValue + 1
            for (ws, we) in windows {
                let s = max(start, ws)
                let e = min(end, we)
                guard s < e else { continue }
                if let last = ram.last, last.address + last.size == s {
                    ram[ram.count - 1].size += e - s  // adjacent regions merge
                } else {
                    ram.append(E820Entry(address: s, size: e - s, kind: .ram))
                }
            }
        }
        var entries = ram
        entries.append(
            E820Entry(
                address: BootLayout.lowRAMEnd, size: BootLayout.highMemoryStart - BootLayout.lowRAMEnd, kind: .reserved))
        entries.append(
            E820Entry(
                address: BootLayout.mmioHoleStart, size: BootLayout.mmioHoleEnd - BootLayout.mmioHoleStart,
                kind: .reserved))
        return entries.sorted { $0.address < $1.address }
    }
}
