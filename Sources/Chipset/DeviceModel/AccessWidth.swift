/// The width of one port-I/O or MMIO access. KVM payloads are at most 8 bytes.
public enum AccessWidth: Int, Sendable, Hashable, CaseIterable {
    case byte = 1, word = 2, dword = 4, qword = 8

    /// - Returns: `nil` for sizes KVM never reports (0, 3, 5..7, > 8).
    public init?(byteCount: Int) { self.init(rawValue: byteCount) }

    /// All-ones of this width: what a read of nothing returns.
    public var allOnes: UInt64 { self == .qword ? UInt64.max : (UInt64(1) << (UInt64(rawValue) * 8)) - 1 }

    /// `value` truncated to this width.
    public func truncate(_ value: UInt64) -> UInt64 { value & allOnes }
}

/// An x86 I/O port number.
public struct IOPort: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }
    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}
