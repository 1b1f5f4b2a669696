/// A GUID in the Microsoft mixed-endian wire layout (`GUID_INIT`): the first three fields are
/// little-endian, the last eight bytes are stored as written.
///
/// `GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f")` has the wire bytes
/// `d9 63 61 ba a1 04 29 4d b6 05 72 e2 ff b1 dc 7f`.
public struct GUID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes as they appear on the wire.
    public let wireBytes: [UInt8]

    /// The all-zero GUID.
    public static let zero = GUID(wireBytes: [UInt8](repeating: 0, count: 16))

    /// Wraps 16 wire bytes; shorter input is zero-padded, longer input truncated.
    public init(wireBytes: [UInt8]) {
        var padded = Array(wireBytes.prefix(16))
        padded += [UInt8](repeating: 0, count: 16 - padded.count)
        self.wireBytes = padded
    }

    /// Parses the canonical text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    /// - Returns: `nil` when the text is not a GUID.
    public init?(_ text: String) {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.count == 5, groups.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        var hex: [UInt8] = []
        let digits = Array(groups.joined())
        var index = 0
        while index < digits.count {
            guard let byte = UInt8(String(digits[index..<(index + 2)]), radix: 16) else { return nil }
            hex.append(byte)
            index += 2
        }
        // Data1 (4 bytes), Data2 and Data3 (2 each) are little-endian; Data4 keeps its order.
        wireBytes = [hex[3], hex[2], hex[1], hex[0], hex[5], hex[4], hex[7], hex[6]] + hex[8..<16]
    }

    /// The canonical lower-case text form (`%pUl`).
    public var description: String {
        let b = wireBytes
        let ordered = [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + b[8..<16]
        let hex = ordered.map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        return hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-"
            + hex[8..<10].joined() + "-" + hex[10..<16].joined()
    }
}
