import Foundation
import GuestMemory
import Testing

@testable import Boot
import TestSupport

@Suite struct LinuxLoaderTests {
    let cmdline = "console=ttyS0 reboot=t panic=-1 nokaslr"

    @Test func loadsELFSegmentsAndZeroesBSS() throws {
        let memory = Fixtures.memory()
        let result = try LinuxLoader.load(kernel: .bytes(Fixtures.kernelELF), cmdline: cmdline, into: memory)
        #expect(result.format == .elf)
        #expect(result.entry == GuestPhysicalAddress(0x100_0000))
        #expect(result.kernelRange.start == GuestPhysicalAddress(0x100_0000))
        #expect(result.kernelRange.length == 0x6000)
        #expect(try memory.bytes(0x100_0000, 8192) == (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        #expect(try memory.bytes(0x100_4000, 100) == [UInt8](repeating: 0x5A, count: 100))
        #expect(try memory.bytes(0x100_4000 + 100, 0x2000 - 100).allSatisfy { $0 == 0 })  // BSS
        #expect(try memory.u8(0x100_6000) == 0xAA)  // untouched past the image
        #expect(result.initrdRange == nil)
        #expect(try memory.bytes(0x20000, cmdline.utf8.count + 1) == Array(cmdline.utf8) + [0])
    }

    @Test func synthesizedZeroPageGoldenFields() throws {
        let memory = Fixtures.memory(mib: 64)
        let acpi = try ACPITables.build(config: ACPIConfiguration(vcpuCount: 2))
        let initrd = [UInt8](repeating: 0x11, count: 10_000)
        let result = try LinuxLoader.load(
            kernel: .bytes(Fixtures.kernelELF), initrd: .bytes(initrd), cmdline: cmdline, into: memory, acpi: acpi)
        let zp = try memory.bytes(0x7000, 4096)
        #expect(result.bootParamsAddress == GuestPhysicalAddress(0x7000))
        #expect(zp.u64(0x070) == 0xE0000)  // acpi_rsdp_addr
        #expect(result.rsdpAddress == GuestPhysicalAddress(0xE0000))
        #expect(zp.u16(0x1FE) == 0xAA55)  // boot_flag
        #expect(zp.u32(0x202) == 0x5372_6448)  // "HdrS"
        #expect(zp.u16(0x206) == 0x020F)  // version
        #expect(zp[0x210] == 0xFF)  // type_of_loader
        #expect(zp[0x211] == 0x81)  // LOADED_HIGH | CAN_USE_HEAP
        #expect(zp.u16(0x224) == 0xFE00)  // heap_end_ptr
        #expect(zp.u32(0x228) == 0x20000)  // cmd_line_ptr
        #expect(zp.u32(0x0C8) == 0)  // ext_cmd_line_ptr
        #expect(zp.u32(0x22C) == 0x7FFF_FFFF)  // initrd_addr_max
        #expect(zp.u32(0x230) == 0x0100_0000)  // kernel_alignment
        #expect(zp.u32(0x238) == 2047)  // cmdline_size
        #expect(zp[0x1EF] == 0)  // sentinel
        // initrd: top of the 64 MiB of RAM, page-aligned.
        let expectedInitrd = (UInt64(64 << 20) - 10_000) & ~0xFFF
        #expect(zp.u32(0x218) == UInt32(expectedInitrd))  // ramdisk_image
        #expect(zp.u32(0x21C) == 10_000)  // ramdisk_size
        #expect(zp.u32(0x0C0) == 0 && zp.u32(0x0C4) == 0)  // ext_ramdisk_image/size
        #expect(result.initrdRange == GuestAddressRange(start: GuestPhysicalAddress(expectedInitrd), length: 10_000))
        #expect(try memory.bytes(expectedInitrd, 10_000) == initrd)
        // E820 at 0x2D0, count at 0x1E8.
        #expect(zp[0x1E8] == 4)
        let expected: [(UInt64, UInt64, UInt32)] = [
            (0, 0x9FC00, 1), (0x9FC00, 0x60400, 2), (0x100000, (64 << 20) - 0x100000, 1), (0xC000_0000, 0x4000_0000, 2),
        ]
        for (i, e) in expected.enumerated() {
            let base = 0x2D0 + i * 20
            #expect(zp.u64(base) == e.0 && zp.u64(base + 8) == e.1 && zp.u32(base + 16) == e.2, "entry \(i)")
        }
        // The ACPI tables were installed.
        #expect(try memory.bytes(0xE0000, 8) == Array("RSD PTR ".utf8))
    }

    @Test func e820ForSeveralRAMSizes() {
        func map(_ size: UInt64) -> [[UInt64]] {
            E820Map.entries(for: BootLayout.ramRegions(ramSize: size)).map { [$0.address, $0.size, UInt64($0.kind.rawValue)] }
        }
        let legacy: [UInt64] = [0x9FC00, 0x60400, 2]
        let hole: [UInt64] = [0xC000_0000, 0x4000_0000, 2]
        #expect(map(128 << 20) == [[0, 0x9FC00, 1], legacy, [0x100000, (128 << 20) - 0x100000, 1], hole])
        #expect(map(3 << 30) == [[0, 0x9FC00, 1], legacy, [0x100000, 0xC000_0000 - 0x100000, 1], hole])
        #expect(
            map(4 << 30) == [
                [0, 0x9FC00, 1], legacy, [0x100000, 0xC000_0000 - 0x100000, 1], hole, [0x1_0000_0000, 1 << 30, 1],
            ])
        #expect(
            map(16 << 30) == [
                [0, 0x9FC00, 1], legacy, [0x100000, 0xC000_0000 - 0x100000, 1], hole, [0x1_0000_0000, 13 << 30, 1],
            ])
        #expect(BootLayout.ramRegions(ramSize: 5 << 30).map(\.length) == [3 << 30, 2 << 30])
    }

    @Test func gdtPageTablesAndEntryState() throws {
        let memory = Fixtures.memory()
        let result = try LinuxLoader.load(kernel: .bytes(Fixtures.kernelELF), cmdline: "", into: memory)
        #expect(
            try memory.bytes(0x500, 32) == [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0xFF, 0xFF, 0, 0, 0, 0x9B, 0xAF, 0x00,  // 0x10: 64-bit code
                0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0x00,  // 0x18: data
            ])
        #expect(try memory.u64(0x9000) == 0xA003)
        #expect(try memory.u64(0x9008) == 0)
        #expect(try (0..<4).map { try memory.u64(0xA000 + $0 * 8) } == [0xB003, 0xC003, 0xD003, 0xE003])
        #expect(try memory.u64(0xA020) == 0)
        #expect(try memory.u64(0xB000) == 0x83)
        #expect(try memory.u64(0xB008) == 0x20_0083)
        #expect(try memory.u64(0xC000) == 0x4000_0083)
        #expect(try memory.u64(0xEFF8) == 0xFFE0_0083)
        let s = result.initialState
        #expect(s.rip == 0x100_0000)
        #expect(s.rsi == 0x7000)
        #expect(s.rsp == 0x8FF0)
        #expect(s.cr0 == 0x8000_0031)
        #expect(s.cr3 == 0x9000)
        #expect(s.cr4 == 0x20)
        #expect(s.efer == 0x500)
        #expect(s.gdtBase == 0x500 && s.gdtLimit == 31)
        #expect(s.code.selector == 0x10 && s.code.l && !s.code.db && s.code.type == 0xB)
        #expect(s.data.selector == 0x18 && !s.data.l && s.data.db && s.data.type == 0x3)
        #expect(s.rflags == 0x2)
    }

    @Test func initrdPlacementLimits() throws {
        // Below initrd_addr_max from a bzImage header.
        let bz = Fixtures.bzImage(payload: Fixtures.lz4LiteralStream(Fixtures.kernelELF), initrdAddrMax: 0x1FF_FFFF)
        let memory = Fixtures.memory(mib: 64)
        let r = try LinuxLoader.load(kernel: .bytes(bz), initrd: .bytes([1, 2, 3]), cmdline: "", into: memory)
        #expect(r.initrdRange?.start == GuestPhysicalAddress(0x1FF_F000))
        // Does not fit between the kernel (ends at 16 MiB + 24 KiB) and the top of 32 MiB.
        let small = Fixtures.memory(mib: 32)
        let tooBig = [UInt8](repeating: 0, count: 16 << 20)
        #expect(throws: LinuxLoaderError.initrdDoesNotFit(size: 16 << 20, available: (16 << 20) - 0x6000)) {
            try LinuxLoader.load(kernel: .bytes(Fixtures.kernelELF), initrd: .bytes(tooBig), cmdline: "", into: small)
        }
        // Fits exactly.
        let exact = [UInt8](repeating: 7, count: (16 << 20) - 0x6000)
        let e = try LinuxLoader.load(kernel: .bytes(Fixtures.kernelELF), initrd: .bytes(exact), cmdline: "", into: small)
        #expect(e.initrdRange?.start == GuestPhysicalAddress(0x100_6000))
    }

    @Test func bzImageWithLZ4PayloadKeepsItsHeader() throws {
        let memory = Fixtures.memory()
        var bz = Fixtures.bzImage(payload: Fixtures.lz4LiteralStream(Fixtures.kernelELF))
        bz[0x250] = 0x42  // a setup_data pointer in the image must not reach the guest
        bz[0x210] = 0x30  // nor its type_of_loader
        let result = try LinuxLoader.load(kernel: .bytes(bz), cmdline: cmdline, into: memory)
        #expect(result.format == .bzImage(version: 0x020F, compression: .lz4))
        #expect(result.entry == GuestPhysicalAddress(0x100_0000))
        #expect(try memory.bytes(0x100_0000, 16) == (0..<16).map { UInt8($0 * 7) })
        let zp = try memory.bytes(0x7000, 4096)
        #expect(zp[0x1F1] == 2)  // setup_sects copied
        #expect(zp.u32(0x230) == 0x20_0000)  // kernel_alignment from the image
        #expect(zp.u32(0x258) == 0x100_0000)  // pref_address from the image
        #expect(zp[0x210] == 0xFF && zp[0x211] == 0x81)
        #expect(zp.u32(0x228) == 0x20000)
        #expect(zp.u64(0x250) == 0)  // setup_data
        #expect(zp.u16(0x206) == 0x020F && zp.u16(0x1FE) == 0xAA55)
    }

    @Test(arguments: ["gzip", "xz", "zstd"])
    func bzImageWithHostCompressedPayload(tool: String) throws {
        guard HostTool.available(tool) else { return }
        let dir = try Fixtures.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let elfURL = dir.appendingPathComponent("vmlinux.bin")
        try Data(Fixtures.kernelELF).write(to: elfURL)
        let args: [String] =
            switch tool {
            case "gzip": ["-n", "-9", "-c", elfURL.path]
            case "xz": ["--check=crc32", "-c", elfURL.path]
            default: ["-q", "-19", "-c", elfURL.path]
            }
        let out = dir.appendingPathComponent("payload")
        let (status, log) = try HostTool.run(tool, args, stdoutFile: out)
        #expect(status == 0, "\(tool): \(log)")
        var payload = [UInt8](try Data(contentsOf: out))
        if tool != "gzip" { payload.appendLE(UInt32(Fixtures.kernelELF.count)) }  // *_with_size
        let memory = Fixtures.memory()
        let result = try LinuxLoader.load(kernel: .bytes(Fixtures.bzImage(payload: payload)), cmdline: "", into: memory)
        #expect(result.format == .bzImage(version: 0x020F, compression: PayloadCompression(rawValue: tool)))
        #expect(try memory.bytes(0x100_0000, 8192) == (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        // A truncated payload is a clear error, not a crash.
        let cut = Fixtures.bzImage(payload: Array(payload.prefix(payload.count / 2)))
        #expect(throws: LinuxLoaderError.self) { try LinuxLoader.load(kernel: .bytes(cut), cmdline: "", into: memory) }
    }

    @Test func loadsFromPath() throws {
        let dir = try Fixtures.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let kernel = dir.appendingPathComponent("vmlinux")
        let initrd = dir.appendingPathComponent("initrd.cpio")
        try Data(Fixtures.kernelELF).write(to: kernel)
        try Data([9, 9, 9]).write(to: initrd)
        let memory = Fixtures.memory()
        let r = try LinuxLoader.load(kernel: .path(kernel.path), initrd: .path(initrd.path), cmdline: "", into: memory)
        #expect(r.initrdRange?.length == 3)
        #expect(throws: LinuxLoaderError.fileNotFound(path: dir.path + "/missing")) {
            try LinuxLoader.load(kernel: .path(dir.path + "/missing"), cmdline: "", into: memory)
        }
        #expect(throws: LinuxLoaderError.fileUnreadable(path: dir.path, reason: "is a directory")) {
            try LinuxLoader.load(kernel: .path(dir.path), cmdline: "", into: memory)
        }
    }

    @Test func clearErrors() throws {
        let memory = Fixtures.memory()
        func load(_ kernel: [UInt8], cmdline: String = "", into m: GuestMemory? = nil) throws -> LinuxBootResult {
            try LinuxLoader.load(kernel: .bytes(kernel), cmdline: cmdline, into: m ?? memory)
        }
        #expect(throws: LinuxLoaderError.notAKernel(reason: "no ELF magic and no bzImage \"HdrS\" header")) {
            try load([UInt8](repeating: 0x90, count: 4096))
        }
        let outside = Fixtures.elf(entry: 0x400_0000, segments: [.init(physicalAddress: 0x400_0000, data: [1], memorySize: 16)])
        #expect(throws: LinuxLoaderError.segmentOutsideRAM(physicalAddress: 0x400_0000, size: 16)) { try load(outside) }
        let low = Fixtures.elf(entry: 0x8000, segments: [.init(physicalAddress: 0x8000, data: [1], memorySize: 16)])
        #expect(throws: LinuxLoaderError.segmentOverlapsBootArea(physicalAddress: 0x8000, size: 16)) { try load(low) }
        let badEntry = Fixtures.elf(entry: 0x50_0000, segments: [.init(physicalAddress: 0x40_0000, data: [1], memorySize: 16)])
        #expect(throws: LinuxLoaderError.entryOutsideImage(entry: 0x50_0000)) { try load(badEntry) }
        let long = String(repeating: "x", count: 2048)
        #expect(throws: LinuxLoaderError.commandLineTooLong(length: 2048, limit: 2047)) {
            try load(Fixtures.kernelELF, cmdline: long)
        }
        #expect(throws: LinuxLoaderError.commandLineInvalid(reason: "contains a NUL byte")) {
            try load(Fixtures.kernelELF, cmdline: "a\u{0}b")
        }
        let tiny = GuestMemory.heapBacked(size: 512 << 10)
        #expect(throws: LinuxLoaderError.memoryTooSmall(reason: "the first 1 MiB of guest memory must be RAM")) {
            try load(Fixtures.kernelELF, into: tiny)
        }
        #expect(throws: LinuxLoaderError.unsupportedBootProtocol(version: 0x0208)) {
            try load(Fixtures.bzImage(payload: [1], version: 0x0208))
        }
        #expect(throws: LinuxLoaderError.unsupportedCompression("bzip2")) {
            try load(Fixtures.bzImage(payload: [0x42, 0x5A, 0x68, 0x39, 0]))
        }
        #expect(throws: LinuxLoaderError.notAKernel(reason: "the bzImage has no 64-bit entry (XLF_KERNEL_64 clear)")) {
            try load(Fixtures.bzImage(payload: [1], xloadflags: 0))
        }
        let lz4 = Fixtures.lz4LiteralStream(Fixtures.kernelELF)
        #expect(throws: LinuxLoaderError.self) { try load(Fixtures.bzImage(payload: Array(lz4.prefix(lz4.count - 100)))) }
        var wrongSize = lz4
        wrongSize[wrongSize.count - 1] = 0x40  // trailer disagrees with the output
        #expect(throws: LinuxLoaderError.self) { try load(Fixtures.bzImage(payload: wrongSize)) }
        let notELF = Fixtures.lz4LiteralStream([UInt8](repeating: 0x90, count: 100))
        #expect(throws: LinuxLoaderError.corruptPayload(reason: "the decompressed payload is not an ELF image")) {
            try load(Fixtures.bzImage(payload: notELF))
        }
        // bzImage command line limit comes from its header.
        let bz = Fixtures.bzImage(payload: lz4, cmdlineSize: 16)
        #expect(throws: LinuxLoaderError.commandLineTooLong(length: 17, limit: 16)) {
            try load(bz, cmdline: String(repeating: "y", count: 17))
        }
    }

    @Test func seededRandomHeaderMutationsNeverCrash() throws {
        var rng = SplitMix64(seed: 0xB007)
        let memory = Fixtures.memory()
        let elf = Fixtures.kernelELF
        let bz = Fixtures.bzImage(payload: Fixtures.lz4LiteralStream(elf))
        var loaded = 0
        for i in 0..<600 {
            var image = i % 2 == 0 ? elf : bz
            let headerEnd = i % 2 == 0 ? 64 + 3 * 56 : 0x700
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                let at = Int.random(in: 0..<min(headerEnd, image.count), using: &rng)
                image[at] = UInt8.random(in: 0...255, using: &rng)
            }
            if rng.next() % 8 == 0 { image = Array(image.prefix(Int.random(in: 0...image.count, using: &rng))) }
            if (try? LinuxLoader.load(kernel: .bytes(image), initrd: .bytes([1]), cmdline: "x", into: memory)) != nil {
                loaded += 1
            }
        }
        // Some mutations hit unused bytes and still load; most must be refused.
        #expect(loaded > 0 && loaded < 600)
    }
}
