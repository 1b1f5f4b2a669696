/// An ELF64 little-endian x86-64 executable (`vmlinux`), parsed field by field.
///
/// Only what loading needs is kept: the entry point and the PT_LOAD segments, each with its
/// *physical* address (`p_paddr`), which is where Linux expects it (the per-CPU segment has a
/// virtual address of 0 but a real physical one).
public struct ELFImage: Sendable, Equatable {
    /// One PT_LOAD segment.
    public struct Segment: Sendable, Equatable {
        public var physicalAddress: UInt64
        public var fileOffset: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
    }

    public var entry: UInt64
    public var segments: [Segment]

    /// ELF magic, `\x7fELF`.
    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
    /// A hostile header cannot make us walk millions of program headers.
    static let maxProgramHeaders = 128

    /// True when `bytes` start with the ELF magic.
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && Array(bytes[0..<4]) == magic
    }

    /// Parses and validates an ELF header and its program headers (System V gABI, ELF-64 Object
    /// File Format 1.5).
    /// - Throws: `LinuxLoaderError.invalidELF` for anything malformed.
    public init(parsing bytes: [UInt8]) throws(LinuxLoaderError) {
        let r = ByteReader(bytes)
        guard Self.hasMagic(bytes) else { throw .invalidELF(reason: "no ELF magic") }
        guard r.count >= 64 else { throw .invalidELF(reason: "header truncated (\(r.count) bytes)") }
        guard r.u8(4) == 2 else { throw .invalidELF(reason: "not ELFCLASS64") }
        guard r.u8(5) == 1 else { throw .invalidELF(reason: "not little-endian") }
        guard r.u8(6) == 1 else { throw .invalidELF(reason: "unknown ELF version") }
        guard let type = r.u16(16), let machine = r.u16(18), let entry = r.u64(24), let phoff = r.u64(32),
            let phentsize = r.u16(54), let phnum = r.u16(56)
        else { throw .invalidELF(reason: "header truncated") }
        guard type == 2 else { throw .invalidELF(reason: "e_type \(type) is not ET_EXEC") }
        guard machine == 62 else { throw .invalidELF(reason: "e_machine \(machine) is not x86-64") }
        guard phentsize == 56 else { throw .invalidELF(reason: "e_phentsize \(phentsize) is not 56") }
        guard phnum > 0, Int(phnum) <= Self.maxProgramHeaders else {
            throw .invalidELF(reason: "e_phnum \(phnum) out of range")
        }
        guard phoff <= UInt64(Int.max), r.contains(offset: Int(phoff), length: Int(phnum) * 56) else {
            throw .invalidELF(reason: "program headers outside the file")
        }
        var segments: [Segment] = []
        for i in 0..<Int(phnum) {
            let base = Int(phoff) + i * 56
            guard let pType = r.u32(base), let offset = r.u64(base + 8), let paddr = r.u64(base + 24),
                let filesz = r.u64(base + 32), let memsz = r.u64(base + 40)
            else { throw .invalidELF(reason: "program header \(i) truncated") }
            guard pType == 1 else { continue }  // PT_LOAD only
            guard filesz <= memsz else { throw .invalidELF(reason: "segment \(i): p_filesz > p_memsz") }
            guard offset <= UInt64(Int.max), filesz <= UInt64(Int.max),
                r.contains(offset: Int(offset), length: Int(filesz))
            else { throw .invalidELF(reason: "segment \(i): file data outside the file") }
            guard paddr.addingReportingOverflow(memsz).overflow == false else {
                throw .invalidELF(reason: "segment \(i): address wraps")
            }
            if memsz == 0 { continue }
            segments.append(Segment(physicalAddress: paddr, fileOffset: offset, fileSize: filesz, memorySize: memsz))
        }
        guard !segments.isEmpty else { throw .invalidELF(reason: "no PT_LOAD segments") }
        let sorted = segments.sorted { $0.physicalAddress < $1.physicalAddress }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.physicalAddress + a.memorySize > b.physicalAddress {
            throw .invalidELF(reason: "PT_LOAD segments overlap at 0x\(String(b.physicalAddress, radix: 16))")
        }
        self.entry = entry
        self.segments = sorted
    }

    /// The lowest and one-past-highest physical address covered by the segments.
    public var physicalExtent: (start: UInt64, end: UInt64) {
        let start = segments.map(\.physicalAddress).min() ?? 0
        let end = segments.map { $0.physicalAddress + $0.memorySize }.max() ?? 0
        return (start, end)
    }
}
