/// Hyper-V CPUID leaf numbers and feature bits (TLFS §2.4; Linux
/// `arch/x86/include/asm/hyperv-tlfs.h`). Layout only, no logic.
public enum HyperVCPUIDLeaf {
    /// Max leaf + vendor "Microsoft Hv".
    public static let vendorAndMaxFunction: UInt32 = 0x4000_0000
    /// Interface signature "Hv#1".
    public static let interface: UInt32 = 0x4000_0001
    /// Hypervisor version (only printed by Linux).
    public static let version: UInt32 = 0x4000_0002
    /// Partition privileges and features.
    public static let features: UInt32 = 0x4000_0003
    /// Implementation recommendations ("hints").
    public static let enlightenmentInfo: UInt32 = 0x4000_0004
    /// Implementation limits (VP and LP counts).
    public static let implementationLimits: UInt32 = 0x4000_0005
    /// Hardware features in use by the hypervisor.
    public static let hardwareFeatures: UInt32 = 0x4000_0006
    /// Highest leaf we define explicitly (KVM answers leaves above the max with the highest
    /// basic leaf, so every leaf up to here is defined, most as zero).
    public static let lastDefined: UInt32 = 0x4000_000A
}

/// 0x40000003.EAX: partition privilege mask, low half (`HV_MSR_*_AVAILABLE`, `HV_ACCESS_*`).
public struct HvPrivilegesLow: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let vpRuntimeMSR = Self(rawValue: 1 << 0)
    /// TIME_REF_COUNT. Never offered: alone it makes Linux use an MSR clocksource (risk R3).
    public static let timeRefCountMSR = Self(rawValue: 1 << 1)
    public static let synicMSRs = Self(rawValue: 1 << 2)
    public static let syntheticTimerMSRs = Self(rawValue: 1 << 3)
    public static let apicAccessMSRs = Self(rawValue: 1 << 4)
    public static let hypercallMSRs = Self(rawValue: 1 << 5)
    public static let vpIndexMSR = Self(rawValue: 1 << 6)
    public static let resetMSR = Self(rawValue: 1 << 7)
    public static let statsPageMSRs = Self(rawValue: 1 << 8)
    public static let referenceTSC = Self(rawValue: 1 << 9)
    public static let guestIdleMSR = Self(rawValue: 1 << 10)
    public static let frequencyMSRs = Self(rawValue: 1 << 11)
    public static let debugMSRs = Self(rawValue: 1 << 12)
    public static let reenlightenment = Self(rawValue: 1 << 13)
    public static let tscInvariant = Self(rawValue: 1 << 15)
}

/// 0x40000003.EBX: partition privilege mask, high half (`HV_*` creation/hypercall flags).
public struct HvPrivilegesHigh: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let createPartitions = Self(rawValue: 1 << 0)
    /// Never offered: Linux then calls HvGetPartitionId at boot and BUG()s on failure (R4).
    public static let accessPartitionID = Self(rawValue: 1 << 1)
    public static let postMessages = Self(rawValue: 1 << 4)
    public static let signalEvents = Self(rawValue: 1 << 5)
    /// Never offered: Linux would think it is the root partition (R4).
    public static let cpuManagement = Self(rawValue: 1 << 12)
    public static let extendedHypercalls = Self(rawValue: 1 << 20)
    public static let isolation = Self(rawValue: 1 << 22)
}

/// 0x40000003.EDX: miscellaneous features (`HV_FEATURE_*`).
public struct HvMiscFeatures: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let xmmHypercallInput = Self(rawValue: 1 << 4)
    public static let frequencyMSRsAvailable = Self(rawValue: 1 << 8)
    public static let guestCrashMSRsAvailable = Self(rawValue: 1 << 10)
    public static let directSyntheticTimers = Self(rawValue: 1 << 19)
}

/// 0x40000004.EAX: recommendations to the guest (`HV_*_RECOMMENDED`).
public struct HvRecommendations: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let hypercallForAddressSpaceSwitch = Self(rawValue: 1 << 0)
    public static let hypercallForLocalFlush = Self(rawValue: 1 << 1)
    public static let hypercallForRemoteFlush = Self(rawValue: 1 << 2)
    public static let apicMSRs = Self(rawValue: 1 << 3)
    public static let msrForSystemReset = Self(rawValue: 1 << 4)
    public static let relaxedTiming = Self(rawValue: 1 << 5)
    /// `HV_DEPRECATING_AEOI_RECOMMENDED`: the guest EOIs the SynIC vector itself (risk R2).
    public static let deprecatingAutoEOI = Self(rawValue: 1 << 9)
    public static let clusterIPI = Self(rawValue: 1 << 10)
    public static let exProcessorMasks = Self(rawValue: 1 << 11)
}
