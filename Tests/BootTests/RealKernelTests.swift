import Foundation
import GuestMemory
import Testing

@testable import Boot

/// Loads real kernels when this machine has them: `$SWIFTHV_TEST_KERNELS` (colon-separated
/// bzImage or vmlinux paths), else the project's image cache `~/.cache/swifthv/images/*/bzImage`.
/// The host's `lz4 -dc` on the same payload is the oracle for our decoder.
@Suite struct RealKernelTests {
    static let kernels: [String] = {
        if let list = ProcessInfo.processInfo.environment["SWIFTHV_TEST_KERNELS"] {
            return list.split(separator: ":").map(String.init)
        }
        let cache = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/swifthv/images")
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: cache.path)) ?? []
        return dirs.sorted().map { cache.appendingPathComponent($0).appendingPathComponent("bzImage").path }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }()

    static var available: Bool {
        if kernels.isEmpty {
            print("SKIP: no real kernel images (set SWIFTHV_TEST_KERNELS or fill ~/.cache/swifthv/images)")
        }
        return !kernels.isEmpty
    }

    @Test(.enabled(if: available, "no real kernel images on this machine"))
    func loadsRealKernels() throws {
        for path in Self.kernels {
            let bytes = try LinuxLoader.read(.path(path), limit: LinuxLoader.maxKernelFileSize, what: "kernel")
            let (image, elf, header, format) = try LinuxLoader.parseKernel(bytes)
            #expect(image.entry == 0x100_0000, "\(path)")
            if let header {
                #expect(header.version >= 0x020C)
                #expect(header.xloadflags & 1 != 0)
                print("\(path): protocol \(String(header.version, radix: 16)), \(format), vmlinux \(elf.count) bytes")
            }
            if let header, PayloadCompression.detect(try header.payload(in: bytes)) == .lz4, HostTool.path("lz4") != nil {
                // Oracle: the host's lz4 on the same payload (it may complain about the size
                // trailer after the last block, so only its output is compared).
                let dir = try Fixtures.tempDirectory()
                defer { try? FileManager.default.removeItem(at: dir) }
                let payloadURL = dir.appendingPathComponent("payload.lz4")
                let outURL = dir.appendingPathComponent("vmlinux")
                try Data(try header.payload(in: bytes)).write(to: payloadURL)
                _ = try HostTool.run("lz4", ["-dc", payloadURL.path], stdoutFile: outURL)
                let oracle = [UInt8](try Data(contentsOf: outURL))
                #expect(oracle.count == elf.count && oracle == elf, "our LZ4 output differs from lz4 -dc for \(path)")
            }
            let ram = try GuestMemory.anonymous(regions: BootLayout.ramRegions(ramSize: 256 << 20))
            let initrdPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("initramfs.cpio").path
            let result = try LinuxLoader.load(
                kernel: .bytes(bytes), initrd: FileManager.default.fileExists(atPath: initrdPath) ? .path(initrdPath) : nil,
                cmdline: "console=ttyS0 reboot=t panic=-1", into: ram,
                acpi: try ACPITables.build(config: ACPIConfiguration(vcpuCount: 1)))
            #expect(result.entry == GuestPhysicalAddress(0x100_0000))
            if let initrd = result.initrdRange { #expect(initrd.start.rawValue >= result.kernelRange.last.rawValue) }
            // A sibling ELF vmlinux (e.g. the build's own) loads directly, entered at its ELF entry.
            let vmlinux = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("vmlinux").path
            if FileManager.default.fileExists(atPath: vmlinux) {
                let r = try LinuxLoader.load(kernel: .path(vmlinux), cmdline: "console=ttyS0", into: ram)
                #expect(r.format == .elf)
                #expect(r.entry == GuestPhysicalAddress(0x100_0000))
                #expect(r.initialState.rip == 0x100_0000)
            }
        }
    }
}
