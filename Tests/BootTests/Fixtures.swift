import Foundation
import GuestMemory

@testable import Boot
import TestSupport

/// Small kernel images built in the tests: ELF64 vmlinux-like executables and bzImages around
/// them, plus helpers for host tools.
enum Fixtures {
    struct Segment {
        var physicalAddress: UInt64
        var data: [UInt8]
        var memorySize: UInt64
    }

    /// An ELF64 x86-64 ET_EXEC with the given PT_LOAD segments (and one PT_NOTE to be ignored).
    static func elf(entry: UInt64, segments: [Segment], machine: UInt16 = 62) -> [UInt8] {
        let phnum = segments.count + 1
        var dataOffset = 64 + phnum * 56
        var out: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        out.appendLE(UInt16(2))  // ET_EXEC
        out.appendLE(machine)
        out.appendLE(UInt32(1))
        out.appendLE(entry)
        out.appendLE(UInt64(64))  // e_phoff
        out.appendLE(UInt64(0))  // e_shoff
        out.appendLE(UInt32(0))  // e_flags
        out.appendLE(UInt16(64))  // e_ehsize
        out.appendLE(UInt16(56))
        out.appendLE(UInt16(phnum))
        out.appendLE(UInt16(64))  // e_shentsize
        out.appendLE(UInt16(0))
        out.appendLE(UInt16(0))
        var payload: [UInt8] = []
        for s in segments {
            out.appendLE(UInt32(1))  // PT_LOAD
            out.appendLE(UInt32(7))
            out.appendLE(UInt64(dataOffset))
            out.appendLE(s.physicalAddress | 0xFFFF_FFFF_8000_0000)  // p_vaddr, as in vmlinux
            out.appendLE(s.physicalAddress)
            out.appendLE(UInt64(s.data.count))
            out.appendLE(s.memorySize)
            out.appendLE(UInt64(0x1000))
            payload += s.data
            dataOffset += s.data.count
        }
        out.appendLE(UInt32(4))  // PT_NOTE
        out += [UInt8](repeating: 0, count: 52)
        return out + payload
    }

    /// A kernel-like ELF: 8 KiB of text at 16 MiB (entry there) and a BSS-bearing data segment.
    static var kernelELF: [UInt8] {
        elf(
            entry: 0x100_0000,
            segments: [
                Segment(physicalAddress: 0x100_0000, data: (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) }, memorySize: 8192),
                Segment(physicalAddress: 0x100_4000, data: [UInt8](repeating: 0x5A, count: 100), memorySize: 0x2000),
            ])
    }

    /// A bzImage around `payload` (setup_sects 2, payload at offset 0x80 of the protected-mode part).
    static func bzImage(
        payload: [UInt8], version: UInt16 = 0x020F, xloadflags: UInt16 = 0x1, cmdlineSize: UInt32 = 2047,
        initrdAddrMax: UInt32 = 0x7FFF_FFFF
    ) -> [UInt8] {
        let setupSects = 2
        var image = ByteImage(size: (setupSects + 1) * 512 + 0x80 + payload.count)
        image.put(UInt8(setupSects), at: 0x1F1)
        image.put(UInt16(0xAA55), at: 0x1FE)
        image.put(UInt8(0xEB), at: 0x200)
        image.put(UInt8(0x6A), at: 0x201)
        image.put(Array("HdrS".utf8), at: 0x202)
        image.put(version, at: 0x206)
        image.put(UInt8(0x01), at: 0x211)  // LOADED_HIGH
        image.put(UInt32(0x100000), at: 0x214)
        image.put(initrdAddrMax, at: 0x22C)
        image.put(UInt32(0x20_0000), at: 0x230)
        image.put(UInt8(1), at: 0x234)
        image.put(xloadflags, at: 0x236)
        image.put(cmdlineSize, at: 0x238)
        image.put(UInt32(0x80), at: 0x248)
        image.put(UInt32(payload.count), at: 0x24C)
        image.put(UInt64(0x100_0000), at: 0x258)
        image.put(UInt32(0x80_0000), at: 0x260)
        image.put(payload, at: (setupSects + 1) * 512 + 0x80)
        return image.bytes
    }

    /// LZ4 legacy stream made of literal-only blocks (valid LZ4, no compression), with the
    /// kernel's 4-byte size trailer when `trailer` is set.
    static func lz4LiteralStream(_ data: [UInt8], trailer: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        out.appendLE(LZ4Legacy.magic)
        var start = 0
        repeat {
            let chunk = Array(data[start..<min(data.count, start + LZ4Legacy.blockSize)])
            var block: [UInt8] = []
            if chunk.count < 15 {
                block.append(UInt8(chunk.count) << 4)
            } else {
                block.append(0xF0)
                var rest = chunk.count - 15
                while rest >= 255 {
                    block.append(255)
                    rest -= 255
                }
                block.append(UInt8(rest))
            }
            block += chunk
            out.appendLE(UInt32(block.count))
            out += block
            start += LZ4Legacy.blockSize
        } while start < data.count
        if trailer { out.appendLE(UInt32(data.count)) }
        return out
    }

    /// Guest memory of `mib` MiB, filled with 0xAA so tests see what the loader wrote.
    static func memory(mib: UInt64 = 32) -> GuestMemory {
        let m = GuestMemory.heapBacked(size: mib << 20)
        try? m.fill(at: GuestPhysicalAddress(0), count: Int(mib << 20), with: 0xAA)
        return m
    }

    static func tempDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("boottests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Host tools some tests use; a test that needs a missing one is skipped with a printed reason.
enum HostTool {
    static func path(_ name: String) -> String? {
        for dir in ["/usr/bin", "/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    static func available(_ name: String) -> Bool {
        let found = path(name) != nil
        if !found { print("SKIP: host tool '\(name)' is not installed; the tests that need it are skipped") }
        return found
    }

    /// Runs a tool; returns exit status and combined stdout+stderr.
    @discardableResult
    static func run(_ name: String, _ args: [String], stdinFile: URL? = nil, stdoutFile: URL? = nil) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path(name) ?? name)
        process.arguments = args
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("tool-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardError = logHandle
        if let stdoutFile {
            _ = FileManager.default.createFile(atPath: stdoutFile.path, contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: stdoutFile)
        } else {
            process.standardOutput = logHandle
        }
        if let stdinFile { process.standardInput = try FileHandle(forReadingFrom: stdinFile) }
        try process.run()
        process.waitUntilExit()
        try logHandle.close()
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(at: log)
        return (process.terminationStatus, text)
    }
}


extension GuestMemory {
    func u8(_ a: UInt64) throws -> UInt8 { try load(UInt8.self, at: GuestPhysicalAddress(a)) }
    func u16(_ a: UInt64) throws -> UInt16 { try load(UInt16.self, at: GuestPhysicalAddress(a)) }
    func u32(_ a: UInt64) throws -> UInt32 { try load(UInt32.self, at: GuestPhysicalAddress(a)) }
    func u64(_ a: UInt64) throws -> UInt64 { try load(UInt64.self, at: GuestPhysicalAddress(a)) }
    func bytes(_ a: UInt64, _ n: Int) throws -> [UInt8] { try read(at: GuestPhysicalAddress(a), count: n) }
}

extension Array where Element == UInt8 {
    func u16(_ o: Int) -> UInt16 { UInt16(self[o]) | UInt16(self[o + 1]) << 8 }
    func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(self[o + $1]) << (8 * $1) } }
    func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(self[o + $1]) << (8 * $1) } }
}
