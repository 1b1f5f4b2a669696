/// Bounds-checked little-endian decoding from a byte array; throws `.corrupt` instead of trapping.
struct ByteReader {
    let bytes: [UInt8]
    let what: String

    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    func u8(_ at: Int) throws -> UInt8 { try check(at, 1); return bytes[at] }

    func u16(_ at: Int) throws -> UInt16 { UInt16(truncatingIfNeeded: try le(at, 2)) }
    func u32(_ at: Int) throws -> UInt32 { UInt32(truncatingIfNeeded: try le(at, 4)) }
    func u64(_ at: Int) throws -> UInt64 { try le(at, 8) }
    func guid(_ at: Int) throws -> GUID { try check(at, 16); return GUID(bytes: Array(bytes[at..<at + 16])) }
    func slice(_ at: Int, _ count: Int) throws -> [UInt8] { try check(at, count); return Array(bytes[at..<at + count]) }

    private func check(_ at: Int, _ size: Int) throws {
        guard at >= 0, size >= 0, at <= bytes.count, bytes.count - at >= size else {
            throw VirtualDiskError.corrupt("\(what): field at offset \(at) (\(size) bytes) lies past its \(bytes.count)-byte structure")
        }
    }

    private func le(_ at: Int, _ size: Int) throws -> UInt64 {
        try check(at, size)
        var value: UInt64 = 0
        for index in stride(from: size - 1, through: 0, by: -1) { value = value << 8 | UInt64(bytes[at + index]) }
        return value
    }
}

/// Little-endian encoding into a fixed-size zeroed byte array (the on-disk structure image).
/// Offsets come from the Format files' constants, so an out-of-range write is a programming
/// error and traps.
struct ByteWriter {
    var bytes: [UInt8]

    init(count: Int) { bytes = [UInt8](repeating: 0, count: count) }

    mutating func u16(_ at: Int, _ value: UInt16) { put(at, UInt64(value), 2) }
    mutating func u32(_ at: Int, _ value: UInt32) { put(at, UInt64(value), 4) }
    mutating func u64(_ at: Int, _ value: UInt64) { put(at, value, 8) }
    mutating func guid(_ at: Int, _ value: GUID) { bytes.replaceSubrange(at..<at + 16, with: value.bytes) }
    mutating func raw(_ at: Int, _ value: [UInt8]) { bytes.replaceSubrange(at..<at + value.count, with: value) }

    private mutating func put(_ at: Int, _ value: UInt64, _ size: Int) {
        for index in 0..<size { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }
}

extension Array where Element == UInt8 {
    /// True when every byte is zero (used to keep converted images sparse).
    var isAllZero: Bool {
        for byte in self where byte != 0 { return false }
        return true
    }
}

/// Encodes a string as UTF-16LE bytes (VHDX creator string, parent locator keys and values).
func utf16LE(_ string: String) -> [UInt8] {
    var out: [UInt8] = []
    for unit in string.utf16 {
        out.append(UInt8(truncatingIfNeeded: unit))
        out.append(UInt8(truncatingIfNeeded: unit >> 8))
    }
    return out
}

/// Decodes UTF-16LE bytes; odd trailing bytes and invalid sequences become U+FFFD.
func stringFromUTF16LE(_ bytes: [UInt8]) -> String {
    var units: [UInt16] = []
    units.reserveCapacity(bytes.count / 2)
    var index = 0
    while index + 1 < bytes.count {
        units.append(UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8)
        index += 2
    }
    return String(decoding: units, as: UTF16.self)
}
