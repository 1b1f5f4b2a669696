/// Offsets of the x86 boot protocol's fields (Documentation/arch/x86/boot.rst, zero-page.rst,
/// arch/x86/include/uapi/asm/bootparam.h). All offsets are from the start of the bzImage file,
/// which is also their offset inside `boot_params`. Layout only, no logic.
enum BootProtocol {
    // boot_params (zero page)
    static let zeroPageSize = 4096
    static let acpiRSDPAddr = 0x070  // u64
    static let extRamdiskImage = 0x0C0  // u32
    static let extRamdiskSize = 0x0C4  // u32
    static let extCmdLinePtr = 0x0C8  // u32
    static let e820Entries = 0x1E8  // u8
    static let sentinel = 0x1EF  // u8
    static let e820Table = 0x2D0  // 128 x {u64 addr, u64 size, u32 type}
    static let e820MaxEntries = 128
    static let e820EntrySize = 20

    // setup_header (starts at 0x1F1)
    static let setupHeaderStart = 0x1F1
    static let setupSects = 0x1F1  // u8
    static let bootFlag = 0x1FE  // u16, 0xAA55
    static let jump = 0x200  // u16; the byte at 0x201 gives the header's length
    static let header = 0x202  // u32, "HdrS"
    static let version = 0x206  // u16
    static let typeOfLoader = 0x210  // u8
    static let loadflags = 0x211  // u8
    static let code32Start = 0x214  // u32
    static let ramdiskImage = 0x218  // u32
    static let ramdiskSize = 0x21C  // u32
    static let heapEndPtr = 0x224  // u16
    static let cmdLinePtr = 0x228  // u32
    static let initrdAddrMax = 0x22C  // u32
    static let kernelAlignment = 0x230  // u32
    static let relocatableKernel = 0x234  // u8
    static let xloadflags = 0x236  // u16
    static let cmdlineSize = 0x238  // u32
    static let payloadOffset = 0x248  // u32
    static let payloadLength = 0x24C  // u32
    static let setupData = 0x250  // u64, linked list of setup_data; the loader owns it
    static let prefAddress = 0x258  // u64
    static let initSize = 0x260  // u32
    /// One past the last setup_header field we know (kernel_info_offset, 2.15).
    static let setupHeaderMaxEnd = 0x26C

    static let headerMagic: UInt32 = 0x5372_6448  // "HdrS"
    static let bootFlagValue: UInt16 = 0xAA55
    static let loadedHigh: UInt8 = 0x01
    static let canUseHeap: UInt8 = 0x80
    static let xlfKernel64: UInt16 = 0x01
    /// type_of_loader: 0xFF, "undefined" (boot.rst: a loader with no assigned ID).
    static let undefinedLoader: UInt8 = 0xFF
    /// Heap end (offset from the real-mode segment) every modern loader uses.
    static let heapEnd: UInt16 = 0xFE00

    // E820 types
    static let e820RAM: UInt32 = 1
    static let e820Reserved: UInt32 = 2
}

/// The fields of a bzImage's setup header that the loader uses, validated.
public struct SetupHeader: Sendable, Equatable {
    /// Boot protocol version, e.g. 0x020F for 2.15.
    public var version: UInt16
    public var setupSects: UInt8
    public var loadflags: UInt8
    public var xloadflags: UInt16
    public var initrdAddrMax: UInt32
    public var kernelAlignment: UInt32
    public var cmdlineSize: UInt32
    public var payloadOffset: UInt32
    public var payloadLength: UInt32
    public var initSize: UInt32
    /// The raw setup header bytes (file offsets 0x1F1 up to its declared end), copied into
    /// `boot_params` unchanged before the loader fills in its own fields.
    public var rawBytes: [UInt8]

    /// The protected-mode kernel starts after the boot sector and `setup_sects` sectors.
    public var protectedModeOffset: Int { (Int(setupSects == 0 ? 4 : setupSects) + 1) * 512 }

    /// The minimum boot protocol whose header carries payload_offset/length and cmdline_size.
    public static let minimumVersion: UInt16 = 0x020C

    /// True when `bytes` look like a bzImage (boot flag and "HdrS").
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        let r = ByteReader(bytes)
        return r.u16(BootProtocol.bootFlag) == BootProtocol.bootFlagValue
            && r.u32(BootProtocol.header) == BootProtocol.headerMagic
    }

    /// Parses the setup header of a bzImage.
    /// - Throws: `.notAKernel` without the magic, `.unsupportedBootProtocol` before 2.12,
    ///   `.corruptPayload` when the payload lies outside the file.
    public init(parsing bytes: [UInt8]) throws(LinuxLoaderError) {
        let r = ByteReader(bytes)
        guard Self.hasMagic(bytes) else { throw .notAKernel(reason: "no ELF magic and no bzImage \"HdrS\" header") }
        guard let version = r.u16(BootProtocol.version), let setupSects = r.u8(BootProtocol.setupSects),
            let headerLengthByte = r.u8(BootProtocol.jump + 1)
        else { throw .notAKernel(reason: "setup header truncated") }
        guard version >= Self.minimumVersion else { throw .unsupportedBootProtocol(version: version) }
        guard let loadflags = r.u8(BootProtocol.loadflags), let xloadflags = r.u16(BootProtocol.xloadflags),
            let initrdAddrMax = r.u32(BootProtocol.initrdAddrMax),
            let kernelAlignment = r.u32(BootProtocol.kernelAlignment),
            let cmdlineSize = r.u32(BootProtocol.cmdlineSize), let payloadOffset = r.u32(BootProtocol.payloadOffset),
            let payloadLength = r.u32(BootProtocol.payloadLength), let initSize = r.u32(BootProtocol.initSize)
        else { throw .notAKernel(reason: "setup header truncated") }
        // The header ends at 0x202 + the jump displacement at 0x201 (boot.rst); cap it to the
        // fields we know so a hostile length cannot spill into the rest of boot_params.
        let declaredEnd = 0x202 + Int(headerLengthByte)
        let end = min(max(declaredEnd, BootProtocol.payloadLength + 4), BootProtocol.setupHeaderMaxEnd)
        guard let raw = r.slice(BootProtocol.setupHeaderStart, end - BootProtocol.setupHeaderStart) else {
            throw .notAKernel(reason: "setup header truncated")
        }
        self.version = version
        self.setupSects = setupSects
        self.loadflags = loadflags
        self.xloadflags = xloadflags
        self.initrdAddrMax = initrdAddrMax
        self.kernelAlignment = kernelAlignment
        self.cmdlineSize = cmdlineSize
        self.payloadOffset = payloadOffset
        self.payloadLength = payloadLength
        self.initSize = initSize
        self.rawBytes = Array(raw)
        guard loadflags & BootProtocol.loadedHigh != 0 else {
            throw .notAKernel(reason: "zImage (not loaded high) is not supported")
        }
    }

    /// The compressed payload of the protected-mode kernel.
    /// - Throws: `.corruptPayload` when it lies outside the file or is empty.
    public func payload(in bytes: [UInt8]) throws(LinuxLoaderError) -> [UInt8] {
        let r = ByteReader(bytes)
        let start = protectedModeOffset + Int(payloadOffset)
        guard payloadLength > 0, let slice = r.slice(start, Int(payloadLength)) else {
            throw .corruptPayload(
                reason: "payload (offset 0x\(String(payloadOffset, radix: 16)), \(payloadLength) bytes) outside the file")
        }
        return Array(slice)
    }
}
