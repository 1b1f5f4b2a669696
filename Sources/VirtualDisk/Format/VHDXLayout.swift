/// Fixed layout facts of a VHDX file, MS-VHDX §2.1 "Layout".
///
/// ```
/// 0        64K      128K     192K     256K     320K            1M
/// | FileId | Header1| Header2| Region1| Region2| reserved  ...  | log, BAT, metadata, blocks
/// ```
/// Every object after the first MiB is aligned to 1 MiB.
enum VHDXLayout {
    static let kib: UInt64 = 1024
    static let mib: UInt64 = 1024 * 1024
    static let fileIdentifierOffset: UInt64 = 0
    static let headerOffsets: [UInt64] = [64 * kib, 128 * kib]
    static let headerSize = 4096
    static let regionTableOffsets: [UInt64] = [192 * kib, 256 * kib]
    static let regionTableSize = 64 * 1024
    /// The header section: nothing else may start below 1 MiB.
    static let headerSectionSize: UInt64 = mib
    static let minBlockSize: UInt32 = 1 << 20
    static let maxBlockSize: UInt32 = 256 << 20
    /// MS-VHDX §2.6.2.2: the virtual disk size is at most 64 TiB.
    static let maxVirtualSize: UInt64 = 64 << 40
    /// Sector bitmap blocks are always 1 MiB (§2.5.2).
    static let sectorBitmapBlockSize: UInt64 = mib
    static let logSectorSize = 4096
}

/// Well-known GUIDs from MS-VHDX §2.2.3.2 (regions) and §2.6.2 (metadata items).
enum VHDXGUIDs {
    static func make(_ text: String) -> GUID {
        guard let guid = GUID(text) else { preconditionFailure("bad GUID literal \(text)") }
        return guid
    }
    static let batRegion = make("2DC27766-F623-4200-9D64-115E9BFD4A08")
    static let metadataRegion = make("8B7CA206-4790-4B9A-B8FE-575F050F886E")
    static let fileParameters = make("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
    static let virtualDiskSize = make("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
    static let page83Data = make("BECA12AB-B2E6-4523-93EF-C309E000C746")
    static let logicalSectorSize = make("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
    static let physicalSectorSize = make("CDA348C7-445D-4471-9CC9-E9885251C556")
    static let parentLocator = make("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
    static let vhdxParentLocatorType = make("B04AEFB7-D19E-4A81-B789-25B8E9445913")
}
