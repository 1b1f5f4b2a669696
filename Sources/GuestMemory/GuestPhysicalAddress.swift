/// An address in the guest's physical address space.
///
/// Arithmetic that could overflow returns `nil`: guest-supplied values must never wrap silently.
public struct GuestPhysicalAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// The address `offset` bytes further on, or `nil` if that wraps past 2^64.
    public func advanced(by offset: UInt64) -> GuestPhysicalAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestPhysicalAddress(rawValue: sum)
    }

    /// Distance from `other` to `self`, or `nil` if `other` lies above `self`.
    public func offset(from other: GuestPhysicalAddress) -> UInt64? {
        rawValue >= other.rawValue ? rawValue - other.rawValue : nil
    }

    /// The guest page frame number (4 KiB pages).
    public var pageNumber: UInt64 { rawValue >> 12 }
    public init(pageNumber: UInt64) { self.rawValue = pageNumber << 12 }

    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A non-empty, non-wrapping range of guest physical addresses.
public struct GuestAddressRange: Hashable, Sendable, CustomStringConvertible {
    public let start: GuestPhysicalAddress
    public let length: UInt64

    /// - Returns: `nil` when `length` is zero or the range wraps past 2^64.
    public init?(start: GuestPhysicalAddress, length: UInt64) {
        guard length > 0, start.rawValue.addingReportingOverflow(length - 1).overflow == false else { return nil }
        self.start = start
        self.length = length
    }

    /// The last address inside the range (inclusive, so a range may end at 2^64-1).
    public var last: GuestPhysicalAddress { GuestPhysicalAddress(rawValue: start.rawValue + (length - 1)) }

    public func contains(_ address: GuestPhysicalAddress) -> Bool {
        address >= start && address <= last
    }

    /// True when `count` bytes from `address` lie wholly inside this range.
    public func contains(_ address: GuestPhysicalAddress, count: UInt64) -> Bool {
        guard contains(address) else { return count == 0 && address == start }
        return count == 0 || (last.rawValue - address.rawValue) >= count - 1
    }

    public func overlaps(_ other: GuestAddressRange) -> Bool {
        start <= other.last && other.start <= last
    }

    public var description: String { "[\(start)..\(last)]" }
}
