/// A hypercall call code (TLFS Appendix A). Open: unknown codes are representable.
public struct HypercallCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let postMessage = Self(rawValue: 0x005C)
    public static let signalEvent = Self(rawValue: 0x005D)
    public var description: String { "hypercall 0x" + String(rawValue, radix: 16) }
}

/// The hypercall input value in RCX (TLFS §3.7, Linux `HV_HYPERCALL_*`):
/// ```
///  15:0  call code        16 fast          26:17 variable header size (8-byte units)
///  30:27 reserved         31 nested        43:32 rep count    47:44 reserved
///  59:48 rep start index  63:60 reserved
/// ```
public struct HypercallControl: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let fastBit: UInt64 = 1 << 16
    /// Bits that must be zero; "nested" (bit 31) counts as reserved: we are no L1 hypervisor.
    public static let reservedMask: UInt64 = 0xF000_F000_F800_0000

    public var code: HypercallCode { HypercallCode(rawValue: UInt16(truncatingIfNeeded: rawValue)) }
    public var isFast: Bool { rawValue & Self.fastBit != 0 }
    /// Size of the variable header in bytes.
    public var variableHeaderSize: Int { Int((rawValue >> 17) & 0x3FF) * 8 }
    public var repCount: Int { Int((rawValue >> 32) & 0xFFF) }
    public var repStart: Int { Int((rawValue >> 48) & 0xFFF) }
    public var hasReservedBits: Bool { rawValue & Self.reservedMask != 0 }

    /// Builds a control value (for tests and documentation).
    public init(code: HypercallCode, fast: Bool = false, variableHeaderQuadwords: Int = 0, repCount: Int = 0, repStart: Int = 0) {
        rawValue =
            UInt64(code.rawValue) | (fast ? Self.fastBit : 0) | (UInt64(variableHeaderQuadwords) & 0x3FF) << 17
            | (UInt64(repCount) & 0xFFF) << 32 | (UInt64(repStart) & 0xFFF) << 48
    }
}

/// The hypercall result in RAX: status 15:0, reps completed 43:32 (TLFS §3.8).
public struct HypercallResult: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(status: HvStatus, repsCompleted: Int = 0) {
        rawValue = UInt64(status.rawValue) | (UInt64(repsCompleted) & 0xFFF) << 32
    }
    public var status: HvStatus { HvStatus(rawValue: UInt16(truncatingIfNeeded: rawValue)) }
    public var repsCompleted: Int { Int((rawValue >> 32) & 0xFFF) }
    public var description: String { "\(status), \(repsCompleted) reps completed" }
}
