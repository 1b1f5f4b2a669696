/// What goes into `boot_params` besides the setup header.
struct ZeroPageContents {
    /// The bzImage's setup header bytes (from 0x1F1), or `nil` for an ELF vmlinux, for which a
    /// minimal header is synthesized.
    var setupHeader: [UInt8]?
    var commandLineAddress: UInt32
    var initrd: (address: UInt64, size: UInt64)?
    var e820: [E820Entry]
    var acpiRSDPAddress: UInt64?
}

/// Builds the 4 KiB `boot_params` ("zero page") field by field (zero-page.rst, boot.rst).
enum ZeroPage {
    /// Version written in a synthesized header (2.15).
    static let synthesizedVersion: UInt16 = 0x020F
    /// kernel_alignment written in a synthesized header (Debian's CONFIG_PHYSICAL_ALIGN).
    static let synthesizedKernelAlignment: UInt32 = 0x0100_0000
    /// initrd_addr_max written in a synthesized header.
    static let synthesizedInitrdAddrMax: UInt32 = 0x7FFF_FFFF
    /// The kernel's COMMAND_LINE_SIZE on x86 is 2048, so 2047 characters.
    static let synthesizedCmdlineSize: UInt32 = 2047

    static func build(_ c: ZeroPageContents) -> [UInt8] {
        typealias P = BootProtocol
        var page = ByteImage(size: P.zeroPageSize)
        if let header = c.setupHeader {
            page.put(header.prefix(P.setupHeaderMaxEnd - P.setupHeaderStart), at: P.setupHeaderStart)
        } else {
            page.put(P.bootFlagValue, at: P.bootFlag)
            page.put(UInt8(0xEB), at: P.jump)  // jmp short; the displacement gives the header end
            page.put(UInt8(P.setupHeaderMaxEnd - 0x202), at: P.jump + 1)
            page.put(P.headerMagic, at: P.header)
            page.put(synthesizedVersion, at: P.version)
            page.put(synthesizedKernelAlignment, at: P.kernelAlignment)
            page.put(synthesizedInitrdAddrMax, at: P.initrdAddrMax)
            page.put(synthesizedCmdlineSize, at: P.cmdlineSize)
            page.put(UInt8(1), at: P.relocatableKernel)
            page.put(P.xlfKernel64, at: P.xloadflags)
        }
        // Loader-owned fields (boot.rst "Details of header fields", write access).
        page.put(P.undefinedLoader, at: P.typeOfLoader)
        let headerFlags = c.setupHeader.flatMap { ByteReader($0).u8(P.loadflags - P.setupHeaderStart) } ?? 0
        let flags = headerFlags | P.loadedHigh | P.canUseHeap
        page.put(flags, at: P.loadflags)
        page.put(P.heapEnd, at: P.heapEndPtr)
        page.put(c.commandLineAddress, at: P.cmdLinePtr)
        page.put(UInt32(0), at: P.extCmdLinePtr)
        // No setup_data chain: a value copied from the image would point the kernel at
        // arbitrary guest memory.
        page.put(UInt64(0), at: P.setupData)
        let (initrdAddress, initrdSize) = c.initrd ?? (0, 0)
        page.put(UInt32(truncatingIfNeeded: initrdAddress), at: P.ramdiskImage)
        page.put(UInt32(truncatingIfNeeded: initrdSize), at: P.ramdiskSize)
        page.put(UInt32(truncatingIfNeeded: initrdAddress >> 32), at: P.extRamdiskImage)
        page.put(UInt32(truncatingIfNeeded: initrdSize >> 32), at: P.extRamdiskSize)
        // The sentinel must be zero, or the kernel assumes a broken loader and clears fields.
        page.put(UInt8(0), at: P.sentinel)
        page.put(c.acpiRSDPAddress ?? 0, at: P.acpiRSDPAddr)
        let entries = c.e820.prefix(P.e820MaxEntries)
        page.put(UInt8(entries.count), at: P.e820Entries)
        for (i, entry) in entries.enumerated() {
            let base = P.e820Table + i * P.e820EntrySize
            page.put(entry.address, at: base)
            page.put(entry.size, at: base + 8)
            page.put(entry.kind.rawValue, at: base + 16)
        }
        return page.bytes
    }
}
