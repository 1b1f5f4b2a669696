/// A saved-state section tag: four ASCII bytes (an open set: readers skip tags they do not use).
public struct SectionTag: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ text: StaticString) {
        var v: UInt32 = 0
        text.withUTF8Buffer { for (i, b) in $0.prefix(4).enumerated() { v |= UInt32(b) << (8 * UInt32(i)) } }
        rawValue = v
    }
    /// The VM's identity: memory size, vCPU count, devices (`SavedStateFingerprint`, JSON).
    public static let configuration = Self("CONF")
    /// vCPUs and in-kernel irqchip/PIT/clock (`MachineState`, JSON).
    public static let machine = Self("MACH")
    /// Platform devices (`PlatformDeviceState`, JSON).
    public static let chipset = Self("CHIP")
    /// The Hyper-V stack's own blob (`HyperVStack.saveState()`), opaque here.
    public static let hyperV = Self("HYPV")
    /// Where guest RAM lies in the file: offset and length (two little-endian UInt64).
    public static let ram = Self("RAM ")

    public var description: String {
        String(decoding: (0..<4).map { UInt8(truncatingIfNeeded: rawValue >> (8 * $0)) }, as: UTF8.self)
    }
}

/// The metadata part of a saved-state file (docs/saved-state.md): header and typed sections,
/// each length-prefixed and CRC-32 checked. Guest RAM follows, page aligned, outside it.
///
///     offset 0   magic "SWHVSAVE" (8 bytes)
///            8   format version, UInt32 LE (1)
///           12   section count, UInt32 LE
///           16   metadata length (header + sections), UInt64 LE
///           24   sections: tag UInt32, flags UInt32 (0), length UInt64, CRC-32 UInt32,
///                reserved UInt32 (0), then `length` payload bytes
public struct SavedStateContainer: Sendable, Hashable {
    public static let magic: [UInt8] = Array("SWHVSAVE".utf8)
    public static let version: UInt32 = 1
    static let headerSize = 24
    static let sectionHeaderSize = 24
    /// Bounds that keep a hostile file from making the reader allocate without limit.
    public static let maxSections = 64
    public static let maxMetadataBytes = 64 << 20

    /// Sections in file order (tags are unique).
    public private(set) var sections: [(tag: SectionTag, payload: [UInt8])] = []

    public init() {}

    public static func == (a: Self, b: Self) -> Bool {
        a.sections.map(\.tag) == b.sections.map(\.tag) && a.sections.map(\.payload) == b.sections.map(\.payload)
    }
    public func hash(into h: inout Hasher) {
        for s in sections {
            h.combine(s.tag)
            h.combine(s.payload)
        }
    }

    /// Adds (or replaces) a section.
    public mutating func set(_ tag: SectionTag, _ payload: [UInt8]) {
        if let i = sections.firstIndex(where: { $0.tag == tag }) {
            sections[i].payload = payload
        } else {
            sections.append((tag, payload))
        }
    }

    /// The payload of `tag`, nil when absent.
    public subscript(tag: SectionTag) -> [UInt8]? { sections.first { $0.tag == tag }?.payload }

    /// The encoded metadata.
    public func encoded() -> [UInt8] {
        let total = Self.headerSize + sections.reduce(0) { $0 + Self.sectionHeaderSize + $1.payload.count }
        var out = Self.magic
        out.reserveCapacity(total)
        appendLE(&out, Self.version)
        appendLE(&out, UInt32(sections.count))
        appendLE(&out, UInt64(total))
        for s in sections {
            appendLE(&out, s.tag.rawValue)
            appendLE(&out, UInt32(0))
            appendLE(&out, UInt64(s.payload.count))
            appendLE(&out, CRC32.checksum(s.payload))
            appendLE(&out, UInt32(0))
            out += s.payload
        }
        return out
    }

    /// The metadata length a file's first 24 bytes announce, validated against the bounds.
    /// - Throws: `SavedStateError` for a foreign, newer or implausible file.
    public static func metadataLength(header: [UInt8]) throws(SavedStateError) -> Int {
        guard header.count >= headerSize, Array(header[0..<8]) == magic else {
            throw SavedStateError("not a SwiftHV saved-state file (bad magic)")
        }
        let version: UInt32 = readLE(header, 8)
        guard version == Self.version else {
            throw SavedStateError("saved-state format version \(version) is not supported (this build reads \(Self.version))")
        }
        let length: UInt64 = readLE(header, 16)
        guard length >= UInt64(headerSize), length <= UInt64(maxMetadataBytes) else {
            throw SavedStateError("saved-state metadata length \(length) is out of range")
        }
        return Int(length)
    }

    /// Parses metadata bytes (the first `metadataLength` bytes of a file), field by field.
    /// - Throws: `SavedStateError` naming what is wrong: magic, version, a truncated or
    ///   overlong section, a CRC mismatch, a duplicate tag.
    public static func decode(_ bytes: [UInt8]) throws(SavedStateError) -> SavedStateContainer {
        let length = try metadataLength(header: bytes)
        guard bytes.count >= length else {
            throw SavedStateError("the saved-state file is truncated (metadata needs \(length) bytes, has \(bytes.count))")
        }
        let count: UInt32 = readLE(bytes, 12)
        guard count <= UInt32(maxSections) else { throw SavedStateError("saved state has \(count) sections (limit \(maxSections))") }
        var container = SavedStateContainer()
        var offset = headerSize
        for i in 0..<Int(count) {
            guard length - offset >= sectionHeaderSize else {
                throw SavedStateError("saved-state section \(i) is truncated (header)")
            }
            let tag = SectionTag(rawValue: readLE(bytes, offset))
            let payloadLength: UInt64 = readLE(bytes, offset + 8)
            let crc: UInt32 = readLE(bytes, offset + 16)
            offset += sectionHeaderSize
            guard payloadLength <= UInt64(length - offset) else {
                throw SavedStateError("saved-state section '\(tag)' is truncated (\(payloadLength) bytes announced)")
            }
            let payload = Array(bytes[offset..<offset + Int(payloadLength)])
            guard CRC32.checksum(payload) == crc else {
                throw SavedStateError("saved-state section '\(tag)' is corrupt (CRC-32 mismatch)")
            }
            guard container[tag] == nil else { throw SavedStateError("saved-state section '\(tag)' appears twice") }
            container.set(tag, payload)
            offset += Int(payloadLength)
        }
        guard offset == length else { throw SavedStateError("saved-state metadata has \(length - offset) stray bytes") }
        return container
    }
}

func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ value: T) {
    for i in 0..<MemoryLayout<T>.size { out.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
}

/// Little-endian read; the caller has checked `offset + size <= bytes.count`.
func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int) -> T {
    var v: T = 0
    for i in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + i]) << (8 * i) }
    return v
}
