import Foundation
import GuestMemory

/// Where a kernel or initrd comes from.
public enum BootImageSource: Sendable {
    /// A file on the host.
    case path(String)
    /// Bytes already in memory (tests, or a caller that read the file itself).
    case bytes([UInt8])
}

/// What kind of image was loaded.
public enum KernelImageFormat: Sendable, Equatable {
    /// An ELF64 `vmlinux`.
    case elf
    /// A bzImage whose payload, with this compression, held the ELF `vmlinux`.
    case bzImage(version: UInt16, compression: PayloadCompression)
}

/// The outcome of a direct Linux boot setup: where everything landed and how to start the CPU.
public struct LinuxBootResult: Sendable {
    /// Registers for the boot vCPU (64-bit mode, RIP = entry, RSI = boot_params).
    public var initialState: InitialCPUState
    /// The kernel's 64-bit entry point (the ELF entry).
    public var entry: GuestPhysicalAddress
    /// The physical range the kernel's PT_LOAD segments occupy.
    public var kernelRange: GuestAddressRange
    /// Where the initrd was placed, if one was given.
    public var initrdRange: GuestAddressRange?
    /// The `boot_params` page.
    public var bootParamsAddress: GuestPhysicalAddress
    /// The NUL-terminated command line.
    public var commandLineAddress: GuestPhysicalAddress
    /// The RSDP, when ACPI tables were installed.
    public var rsdpAddress: GuestPhysicalAddress?
    /// The E820 map handed to the kernel.
    public var e820: [E820Entry]
    public var format: KernelImageFormat
}

/// Loads a Linux kernel for direct 64-bit boot: parses an ELF `vmlinux` or a bzImage (whose
/// payload is decompressed on the host), places segments, initrd, command line, `boot_params`,
/// GDT, page tables and (optionally) ACPI tables in guest RAM, and returns the entry state.
///
/// Everything read from files is treated as hostile: sizes are capped, every placement is
/// checked against guest RAM, and failures are `LinuxLoaderError`s.
public enum LinuxLoader {
    /// The largest kernel file accepted.
    public static let maxKernelFileSize: UInt64 = 256 << 20
    /// The largest decompressed `vmlinux` accepted.
    public static let maxDecompressedKernelSize = 512 << 20
    /// The largest initrd file accepted (it must also fit in RAM below 3 GiB).
    public static let maxInitrdFileSize: UInt64 = 2 << 30

    /// Loads `kernel` (and `initrd`) into `memory` and prepares the boot CPU state.
    /// - Parameters:
    ///   - kernel: an ELF64 x86-64 `vmlinux` or a bzImage (protocol 2.12 or later).
    ///   - initrd: an initramfs, placed page-aligned at the top of RAM below 3 GiB.
    ///   - cmdline: the kernel command line (no NUL bytes; at most the kernel's `cmdline_size`).
    ///   - memory: guest RAM, laid out as `BootLayout.ramRegions(ramSize:)` describes.
    ///   - acpi: ACPI tables to install; their RSDP goes into `boot_params.acpi_rsdp_addr`.
    /// - Throws: `LinuxLoaderError`.
    public static func load(
        kernel: BootImageSource, initrd: BootImageSource? = nil, cmdline: String, into memory: GuestMemory,
        acpi: ACPITables? = nil
    ) throws(LinuxLoaderError) -> LinuxBootResult {
        guard memory.isValid(GuestPhysicalAddress(0), count: BootLayout.highMemoryStart) else {
            throw .memoryTooSmall(reason: "the first 1 MiB of guest memory must be RAM")
        }
        let kernelBytes = try read(kernel, limit: maxKernelFileSize, what: "kernel")
        let (image, elfBytes, header, format) = try parseKernel(kernelBytes)
        let (kernelStart, kernelEnd) = image.physicalExtent
        for segment in image.segments {
            guard segment.physicalAddress >= BootLayout.highMemoryStart else {
                throw .segmentOverlapsBootArea(physicalAddress: segment.physicalAddress, size: segment.memorySize)
            }
            guard memory.isValid(GuestPhysicalAddress(segment.physicalAddress), count: segment.memorySize) else {
                throw .segmentOutsideRAM(physicalAddress: segment.physicalAddress, size: segment.memorySize)
            }
        }
        guard
            image.segments.contains(where: {
                image.entry >= $0.physicalAddress && image.entry - $0.physicalAddress < $0.memorySize
            })
        else { throw .entryOutsideImage(entry: image.entry) }

        // Command line.
        let commandLine = Array(cmdline.utf8)
        guard !commandLine.contains(0) else { throw .commandLineInvalid(reason: "contains a NUL byte") }
        let kernelLimit = header.map { Int($0.cmdlineSize) } ?? Int(ZeroPage.synthesizedCmdlineSize)
        let limit = min(kernelLimit, BootLayout.commandLineMaxBytes - 1)
        guard commandLine.count <= limit else { throw .commandLineTooLong(length: commandLine.count, limit: limit) }

        // Initrd.
        var initrdPlacement: (address: UInt64, size: UInt64)?
        if let initrd {
            let bytes = try read(initrd, limit: maxInitrdFileSize, what: "initrd")
            if !bytes.isEmpty {
                let address = try placeInitrd(
                    size: UInt64(bytes.count), kernelEnd: kernelEnd,
                    addressMax: header.map { UInt64($0.initrdAddrMax) } ?? UInt64(ZeroPage.synthesizedInitrdAddrMax),
                    memory: memory)
                initrdPlacement = (address, UInt64(bytes.count))
                try write(bytes, at: address, memory)
            }
        }

        // Kernel segments (BSS zeroed explicitly: the memory may not be fresh).
        for segment in image.segments {
            let start = Int(segment.fileOffset)
            try write(elfBytes[start..<(start + Int(segment.fileSize))], at: segment.physicalAddress, memory)
            if segment.memorySize > segment.fileSize {
                try fill(at: segment.physicalAddress + segment.fileSize, count: segment.memorySize - segment.fileSize, memory)
            }
        }

        // ACPI, then the boot structures.
        var rsdp: GuestPhysicalAddress?
        if let acpi {
            do { rsdp = try acpi.install(into: memory) } catch { throw .guestMemory(error) }
        }
        let e820 = E820Map.entries(for: memory.ranges)
        try write(commandLine + [0], at: BootLayout.commandLineAddress, memory)
        let zeroPage = ZeroPage.build(
            ZeroPageContents(
                setupHeader: header?.rawBytes, commandLineAddress: UInt32(BootLayout.commandLineAddress),
                initrd: initrdPlacement, e820: e820, acpiRSDPAddress: rsdp?.rawValue))
        try write(zeroPage, at: BootLayout.zeroPageAddress, memory)
        try write(LongModeSetup.gdt, at: BootLayout.gdtAddress, memory)
        try fill(at: BootLayout.idtAddress, count: 8, memory)
        for table in LongModeSetup.pageTables { try write(table.bytes, at: table.address, memory) }

        guard let kernelRange = GuestAddressRange(start: GuestPhysicalAddress(kernelStart), length: kernelEnd - kernelStart)
        else { throw .invalidELF(reason: "empty image") }
        return LinuxBootResult(
            initialState: LongModeSetup.initialState(entry: image.entry, bootParams: BootLayout.zeroPageAddress),
            entry: GuestPhysicalAddress(image.entry), kernelRange: kernelRange,
            initrdRange: initrdPlacement.flatMap {
                GuestAddressRange(start: GuestPhysicalAddress($0.address), length: $0.size)
            },
            bootParamsAddress: GuestPhysicalAddress(BootLayout.zeroPageAddress),
            commandLineAddress: GuestPhysicalAddress(BootLayout.commandLineAddress), rsdpAddress: rsdp, e820: e820,
            format: format)
    }

    /// Recognises the image and returns the ELF to load, its bytes, and the bzImage header.
    static func parseKernel(_ bytes: [UInt8]) throws(LinuxLoaderError)
        -> (ELFImage, [UInt8], SetupHeader?, KernelImageFormat)
    {
        if ELFImage.hasMagic(bytes) { return (try ELFImage(parsing: bytes), bytes, nil, .elf) }
        guard SetupHeader.hasMagic(bytes) else {
            throw .notAKernel(reason: "no ELF magic and no bzImage \"HdrS\" header")
        }
        let header = try SetupHeader(parsing: bytes)
        guard header.xloadflags & BootProtocol.xlfKernel64 != 0 else {
            throw .notAKernel(reason: "the bzImage has no 64-bit entry (XLF_KERNEL_64 clear)")
        }
        let payload = try header.payload(in: bytes)
        let compression = PayloadCompression.detect(payload)
        let elf = try PayloadDecompressor.decompress(payload, outputLimit: maxDecompressedKernelSize)
        guard ELFImage.hasMagic(elf) else { throw .corruptPayload(reason: "the decompressed payload is not an ELF image") }
        return (try ELFImage(parsing: elf), elf, header, .bzImage(version: header.version, compression: compression))
    }

    /// The initrd's address: page-aligned, as high as possible below min(3 GiB, the end of the
    /// RAM region above 1 MiB, initrd_addr_max + 1), and above the kernel.
    static func placeInitrd(size: UInt64, kernelEnd: UInt64, addressMax: UInt64, memory: GuestMemory)
        throws(LinuxLoaderError) -> UInt64
    {
        guard
            let region = memory.ranges.first(where: { $0.contains(GuestPhysicalAddress(BootLayout.highMemoryStart)) })
        else { throw .memoryTooSmall(reason: "no RAM at 1 MiB") }
        let regionEnd = region.last.rawValue == UInt64.max ? UInt64.max : region.last.rawValue + 1
        let top = min(regionEnd, BootLayout.mmioHoleStart, addressMax.addingReportingOverflow(1).partialValue)
        let floor = (max(kernelEnd, BootLayout.highMemoryStart) + 0xFFF) & ~0xFFF
        let available = top > floor ? top - floor : 0
        guard size <= available else { throw .initrdDoesNotFit(size: size, available: available) }
        let address = (top - size) & ~0xFFF
        guard address >= floor else { throw .initrdDoesNotFit(size: size, available: available) }
        return address
    }

    /// Reads a source, refusing files larger than `limit`.
    static func read(_ source: BootImageSource, limit: UInt64, what: String) throws(LinuxLoaderError) -> [UInt8] {
        switch source {
        case .bytes(let bytes):
            guard UInt64(bytes.count) <= limit else { throw .tooLarge(what: what, size: UInt64(bytes.count), limit: limit) }
            return bytes
        case .path(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw .fileNotFound(path: path)
            }
            guard !isDirectory.boolValue else { throw .fileUnreadable(path: path, reason: "is a directory") }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.uint64Value ?? 0
            guard size <= limit else { throw .tooLarge(what: "\(what) \(path)", size: size, limit: limit) }
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw .fileUnreadable(path: path, reason: "\(error)")
            }
            guard UInt64(data.count) <= limit else { throw .tooLarge(what: "\(what) \(path)", size: UInt64(data.count), limit: limit) }
            return [UInt8](data)
        }
    }

    private static func write(_ bytes: some Collection<UInt8>, at address: UInt64, _ memory: GuestMemory)
        throws(LinuxLoaderError)
    {
        do { try memory.write(bytes, at: GuestPhysicalAddress(address)) } catch { throw .guestMemory(error) }
    }

    private static func fill(at address: UInt64, count: UInt64, _ memory: GuestMemory) throws(LinuxLoaderError) {
        guard count <= UInt64(Int.max) else { throw .segmentOutsideRAM(physicalAddress: address, size: count) }
        do { try memory.fill(at: GuestPhysicalAddress(address), count: Int(count)) } catch { throw .guestMemory(error) }
    }
}
