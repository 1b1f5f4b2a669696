/// Bounds-checked little-endian reads from a byte array: every read returns `nil` past the end,
/// so parsers of hostile files never trap.
struct ByteReader {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    /// True when `[offset, offset+length)` lies inside the bytes (no overflow).
    func contains(offset: Int, length: Int) -> Bool {
        guard offset >= 0, length >= 0 else { return false }
        let (end, overflow) = offset.addingReportingOverflow(length)
        return !overflow && end <= bytes.count
    }

    func u8(_ offset: Int) -> UInt8? {
        contains(offset: offset, length: 1) ? bytes[offset] : nil
    }

    func u16(_ offset: Int) -> UInt16? { integer(offset) }
    func u32(_ offset: Int) -> UInt32? { integer(offset) }
    func u64(_ offset: Int) -> UInt64? { integer(offset) }

    func slice(_ offset: Int, _ length: Int) -> ArraySlice<UInt8>? {
        contains(offset: offset, length: length) ? bytes[offset..<(offset + length)] : nil
    }

    private func integer<T: FixedWidthInteger & UnsignedInteger>(_ offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard contains(offset: offset, length: size) else { return nil }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }
}

/// A fixed-size little-endian byte image built field by field (tables, the zero page).
struct ByteImage {
    private(set) var bytes: [UInt8]

    init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var count: Int { bytes.count }

    /// Stores `value` little-endian at `offset`; the offset is a constant of the format, so an
    /// out-of-range store is a programming error.
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        precondition(offset >= 0 && offset + size <= bytes.count, "field outside the image")
        var v = value
        for i in 0..<size {
            bytes[offset + i] = UInt8(truncatingIfNeeded: v)
            v >>= 8
        }
    }

    mutating func put(_ data: some Collection<UInt8>, at offset: Int) {
        precondition(offset >= 0 && offset + data.count <= bytes.count, "field outside the image")
        bytes.replaceSubrange(offset..<(offset + data.count), with: data)
    }
}

/// Little-endian appends onto a growing byte array (AML, variable-length tables).
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value
        for _ in 0..<MemoryLayout<T>.size {
            append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }
}
