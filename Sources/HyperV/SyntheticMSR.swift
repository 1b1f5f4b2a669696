/// A Hyper-V synthetic MSR index (TLFS §2.4 / Linux `arch/x86/include/asm/hyperv-tlfs.h`).
/// Open: any index in the synthetic range is representable.
public struct SyntheticMSR: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The range the VMM filters to user space (risk R5): everything here is answered by us.
    public static let range: ClosedRange<UInt32> = 0x4000_0000...0x4000_01FF

    public static let guestOSID = Self(rawValue: 0x4000_0000)
    public static let hypercall = Self(rawValue: 0x4000_0001)
    public static let vpIndex = Self(rawValue: 0x4000_0002)
    public static let reset = Self(rawValue: 0x4000_0003)
    public static let vpRuntime = Self(rawValue: 0x4000_0010)
    public static let timeRefCount = Self(rawValue: 0x4000_0020)
    public static let referenceTSC = Self(rawValue: 0x4000_0021)
    public static let tscFrequency = Self(rawValue: 0x4000_0022)
    public static let apicFrequency = Self(rawValue: 0x4000_0023)
    public static let vpAssistPage = Self(rawValue: 0x4000_0073)
    public static let scontrol = Self(rawValue: 0x4000_0080)
    public static let sversion = Self(rawValue: 0x4000_0081)
    public static let siefp = Self(rawValue: 0x4000_0082)
    public static let simp = Self(rawValue: 0x4000_0083)
    public static let eom = Self(rawValue: 0x4000_0084)
    /// SINT0; SINTn is `sint0 + n`, n < 16.
    public static let sint0 = Self(rawValue: 0x4000_0090)
    public static let sint15 = Self(rawValue: 0x4000_009F)
    /// CRASH_P0; P0...P4 are 0x40000100...0x40000104.
    public static let crashP0 = Self(rawValue: 0x4000_0100)
    public static let crashP3 = Self(rawValue: 0x4000_0103)
    public static let crashP4 = Self(rawValue: 0x4000_0104)
    public static let crashControl = Self(rawValue: 0x4000_0105)
    public static let tscInvariantControl = Self(rawValue: 0x4000_0118)

    /// SINTn, or `nil` for n ≥ 16.
    public static func sint(_ n: Int) -> Self? {
        (0..<SynICLayout.sintCount).contains(n) ? Self(rawValue: sint0.rawValue + UInt32(n)) : nil
    }

    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "MSR 0x" + String(rawValue, radix: 16) }
}

/// Bit layouts of the synthetic MSRs we interpret (TLFS; Linux `hyperv-tlfs.h` unions).
public enum SyntheticMSRLayout {
    /// HV_X64_MSR_HYPERCALL / SIMP / SIEFP / VP_ASSIST_PAGE / REFERENCE_TSC: bit 0 enable,
    /// bits 63:12 the page frame number.
    public static let enableBit: UInt64 = 1
    public static let pageAddressMask: UInt64 = ~0xFFF
    /// HV_X64_MSR_HYPERCALL bit 1: "locked" (the guest may no longer change it).
    public static let hypercallLockedBit: UInt64 = 1 << 1
    /// SCONTROL bit 0: the SynIC is enabled.
    public static let scontrolEnable: UInt64 = 1
    /// SVERSION reads 1 (TLFS).
    public static let synicVersion: UInt64 = 1
    /// HV_X64_MSR_RESET bit 0: reset the partition.
    public static let resetBit: UInt64 = 1
    /// CRASH_CTL bit 63 `HV_CRASH_CTL_CRASH_NOTIFY`: P0-P4 hold a crash report.
    public static let crashNotify: UInt64 = 1 << 63
    /// CRASH_CTL bit 62 `HV_CRASH_CTL_CRASH_NOTIFY_MSG`: P3 = GPA and P4 = length of a kernel log page.
    public static let crashNotifyMessage: UInt64 = 1 << 62
}
