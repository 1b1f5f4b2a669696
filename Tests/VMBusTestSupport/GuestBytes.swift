// Little-endian helpers for the guest-side test driver. Deliberately independent of the host's
// WireReader/WireWriter so the driver checks the host against the spec, not against itself.

public struct Bytes {
    public var data: [UInt8]
    public init(count: Int) { data = [UInt8](repeating: 0, count: count) }
    public init(_ data: [UInt8]) { self.data = data }

    public mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        if data.count < offset + size { data += [UInt8](repeating: 0, count: offset + size - data.count) }
        for i in 0..<size { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    public mutating func put(bytes: [UInt8], at offset: Int) {
        if data.count < offset + bytes.count { data += [UInt8](repeating: 0, count: offset + bytes.count - data.count) }
        for (i, b) in bytes.enumerated() { data[offset + i] = b }
    }

    public func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= data.count else { return nil }
        var value: T = 0
        for i in 0..<size { value |= T(data[offset + i]) << (8 * i) }
        return value
    }

    public func u8(_ o: Int) -> UInt8 { get(UInt8.self, at: o) ?? 0xEE }
    public func u16(_ o: Int) -> UInt16 { get(UInt16.self, at: o) ?? 0xEEEE }
    public func u32(_ o: Int) -> UInt32 { get(UInt32.self, at: o) ?? 0xEEEE_EEEE }
    public func u64(_ o: Int) -> UInt64 { get(UInt64.self, at: o) ?? 0xEEEE_EEEE_EEEE_EEEE }
}

/// Hex string ("0e 00 00 00 ...") to bytes, for golden vectors.
public func hex(_ text: String) -> [UInt8] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { UInt8($0, radix: 16) }
}

/// The Microsoft GUID wire layout written out by hand from `GUID_INIT`.
public func guidBytes(_ text: String) -> [UInt8] {
    let h = text.filter { $0 != "-" }
    var raw: [UInt8] = []
    var i = h.startIndex
    while i < h.endIndex {
        let j = h.index(i, offsetBy: 2)
        raw.append(UInt8(h[i..<j], radix: 16) ?? 0)
        i = j
    }
    return [raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]] + raw[8..<16]
}
