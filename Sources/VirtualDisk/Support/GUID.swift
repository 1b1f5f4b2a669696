/// A GUID as stored on disk: the Microsoft mixed-endian layout (Data1 u32 LE, Data2 u16 LE,
/// Data3 u16 LE, Data4 8 bytes as-is), MS-VHDX §2.1.
public struct GUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 on-disk bytes.
    public let bytes: [UInt8]

    public static let zero = GUID(bytes: [UInt8](repeating: 0, count: 16))

    init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a GUID is 16 bytes")
        self.bytes = bytes
    }

    /// Parses the canonical text form `8-4-4-4-12` hex digits; nil if malformed.
    public init?(_ text: String) {
        let hex = text.filter { $0 != "-" && $0 != "{" && $0 != "}" }
        guard hex.count == 32 else { return nil }
        var raw: [UInt8] = []
        var index = hex.startIndex
        for _ in 0..<16 {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            raw.append(byte)
            index = next
        }
        // Text order is big-endian; the first three groups are stored little-endian.
        self.bytes = [raw[3], raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6]] + raw[8..<16]
    }

    /// A random (version 4) GUID.
    public static func random() -> GUID {
        var generator = SystemRandomNumberGenerator()
        var raw = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        raw[7] = (raw[7] & 0x0F) | 0x40
        raw[8] = (raw[8] & 0x3F) | 0x80
        return GUID(bytes: raw)
    }

    public var isZero: Bool { bytes.isAllZero }

    public var description: String {
        func hex(_ range: [Int]) -> String {
            range.map { byte in
                let text = String(bytes[byte], radix: 16, uppercase: true)
                return text.count == 1 ? "0" + text : text
            }.joined()
        }
        return "\(hex([3, 2, 1, 0]))-\(hex([5, 4]))-\(hex([7, 6]))-\(hex([8, 9]))-\(hex(Array(10..<16)))"
    }
}
