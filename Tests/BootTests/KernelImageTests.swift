import Foundation
import Testing

@testable import Boot

@Suite struct ELFImageTests {
    @Test func parsesSegmentsAtPhysicalAddresses() throws {
        let image = try ELFImage(parsing: Fixtures.kernelELF)
        #expect(image.entry == 0x100_0000)
        #expect(image.segments.count == 2)  // PT_NOTE ignored
        #expect(image.segments[0].physicalAddress == 0x100_0000)
        #expect(image.segments[0].fileSize == 8192)
        #expect(image.segments[1].physicalAddress == 0x100_4000)
        #expect(image.segments[1].fileSize == 100)
        #expect(image.segments[1].memorySize == 0x2000)
        #expect(image.physicalExtent == (0x100_0000, 0x100_6000))
    }

    @Test func rejectsMalformedHeaders() {
        func reason(_ bytes: [UInt8]) -> String? {
            do {
                _ = try ELFImage(parsing: bytes)
                return nil
            } catch {
                if case .invalidELF(let r) = error { return r }
                return "\(error)"
            }
        }
        var elf = Fixtures.kernelELF
        #expect(reason(Array(elf.prefix(40)))?.contains("truncated") == true)
        elf[4] = 1
        #expect(reason(elf)?.contains("ELFCLASS64") == true)
        #expect(reason(Fixtures.elf(entry: 0, segments: [], machine: 3))?.contains("x86-64") == true)
        #expect(reason(Fixtures.elf(entry: 0, segments: []))?.contains("no PT_LOAD") == true)
        // File data outside the file: cut the payload.
        #expect(reason(Array(Fixtures.kernelELF.dropLast(50)))?.contains("outside the file") == true)
        // p_filesz > p_memsz.
        let bad = Fixtures.elf(entry: 0, segments: [.init(physicalAddress: 0x200000, data: [1, 2, 3], memorySize: 2)])
        #expect(reason(bad)?.contains("p_filesz") == true)
        // Overlapping segments.
        let overlap = Fixtures.elf(
            entry: 0,
            segments: [
                .init(physicalAddress: 0x200000, data: [1], memorySize: 0x2000),
                .init(physicalAddress: 0x201000, data: [1], memorySize: 0x10),
            ])
        #expect(reason(overlap)?.contains("overlap") == true)
        // Absurd phnum.
        var many = Fixtures.kernelELF
        many[56] = 0xFF
        many[57] = 0xFF
        #expect(reason(many)?.contains("e_phnum") == true)
    }
}

@Suite struct SetupHeaderTests {
    @Test func parsesHeaderFields() throws {
        let payload: [UInt8] = [1, 2, 3, 4, 5]
        let bz = Fixtures.bzImage(payload: payload)
        let header = try SetupHeader(parsing: bz)
        #expect(header.version == 0x020F)
        #expect(header.setupSects == 2)
        #expect(header.protectedModeOffset == 3 * 512)
        #expect(header.payloadOffset == 0x80)
        #expect(header.payloadLength == 5)
        #expect(header.cmdlineSize == 2047)
        #expect(header.initrdAddrMax == 0x7FFF_FFFF)
        #expect(header.kernelAlignment == 0x20_0000)
        #expect(header.initSize == 0x80_0000)
        #expect(header.rawBytes.count == 0x26C - 0x1F1)
        #expect(header.rawBytes[0] == 2)
        #expect(try header.payload(in: bz) == payload)
    }

    @Test func setupSectsZeroMeansFour() throws {
        var bz = Fixtures.bzImage(payload: [1])
        bz[0x1F1] = 0
        #expect(try SetupHeader(parsing: bz).protectedModeOffset == 5 * 512)
    }

    @Test func rejectsOldProtocolAndBadPayload() {
        #expect(throws: LinuxLoaderError.unsupportedBootProtocol(version: 0x020B)) {
            try SetupHeader(parsing: Fixtures.bzImage(payload: [1], version: 0x020B))
        }
        var bz = Fixtures.bzImage(payload: [1, 2, 3])
        bz[0x24C] = 0xFF  // payload_length beyond the file
        let header = try? SetupHeader(parsing: bz)
        #expect(throws: LinuxLoaderError.self) { try header?.payload(in: bz) }
        var noMagic = Fixtures.bzImage(payload: [1])
        noMagic[0x202] = 0
        #expect(throws: LinuxLoaderError.self) { try SetupHeader(parsing: noMagic) }
    }

    @Test func missingHostDecompressorIsAClearError() {
        for (magic, tool) in [([UInt8]([0x1F, 0x8B, 8, 0]), "gzip"), ([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], "xz"), ([0x28, 0xB5, 0x2F, 0xFD, 0, 0, 0, 0, 0], "zstd")] {
            #expect(throws: LinuxLoaderError.decompressorMissing(tool: tool)) {
                try PayloadDecompressor.decompress(magic, outputLimit: 100, toolDirectories: ["/nonexistent"])
            }
        }
    }

    @Test(.enabled(if: HostTool.available("gzip"), "gzip is not installed"))
    func hostDecompressorOutputIsCapped() throws {
        let dir = try Fixtures.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("zeros")
        try Data(count: 4 << 20).write(to: input)
        let out = dir.appendingPathComponent("zeros.gz")
        _ = try HostTool.run("gzip", ["-c", input.path], stdoutFile: out)
        let payload = [UInt8](try Data(contentsOf: out))
        #expect(throws: LinuxLoaderError.self) { try PayloadDecompressor.decompress(payload, outputLimit: 1 << 20) }
        #expect(try PayloadDecompressor.decompress(payload, outputLimit: 4 << 20).count == 4 << 20)
        // Corrupt gzip: a clear error with gzip's own message.
        var bad = payload
        bad[bad.count / 2] ^= 0xFF
        bad[bad.count - 6] ^= 0xFF
        #expect(throws: LinuxLoaderError.self) { try PayloadDecompressor.decompress(bad, outputLimit: 8 << 20) }
    }

    @Test func detectsCompressionMagics() {
        #expect(PayloadCompression.detect([0x02, 0x21, 0x4C, 0x18, 0]) == .lz4)
        #expect(PayloadCompression.detect([0x1F, 0x8B, 8]) == .gzip)
        #expect(PayloadCompression.detect([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) == .xz)
        #expect(PayloadCompression.detect([0x28, 0xB5, 0x2F, 0xFD]) == .zstd)
        #expect(PayloadCompression.detect([0x42, 0x5A, 0x68, 0x39]) == .bzip2)
        #expect(PayloadCompression.detect([0x7F, 0x45, 0x4C, 0x46]) == PayloadCompression.none)
        #expect(PayloadCompression.detect([1, 2]) == .unknown)
    }
}
