/// What the partition's Hyper-V interface looks like to the guest. Fixed for the VM's life: CPUID
/// cannot change after the first `KVM_RUN`.
public struct HyperVConfiguration: Hashable, Sendable {
    /// Why a configuration was refused.
    public enum Error: Swift.Error, Hashable, Sendable, CustomStringConvertible {
        /// The vCPU count is outside 1...`maxVPCount`.
        case vpCountOutOfRange(Int)
        /// A zero frequency cannot be reported (the guest divides by it).
        case zeroFrequency
        public var description: String {
            switch self {
            case .vpCountOutOfRange(let n): "Hyper-V VP count \(n) is outside 1...\(HyperVConfiguration.maxVPCount)"
            case .zeroFrequency: "Hyper-V TSC and APIC frequencies must be non-zero"
            }
        }
    }

    /// The most VPs we describe (KVM's own limit on x86 is in this range; more needs x2APIC ids
    /// above 255 in the MSI address, which the VMM's interrupt sink would have to handle).
    public static let maxVPCount = 1024

    /// Number of virtual processors; VP index == vCPU index == APIC id.
    public let vpCount: Int
    /// The guest TSC frequency (`KVM_GET_TSC_KHZ * 1000`), reported by HV_X64_MSR_TSC_FREQUENCY.
    public let tscFrequencyHz: UInt64
    /// The local APIC timer frequency reported by HV_X64_MSR_APIC_FREQUENCY. KVM's in-kernel
    /// LAPIC runs its bus at 1 GHz (`APIC_BUS_CYCLE_NS` = 1), so that is the default.
    public let apicFrequencyHz: UInt64
    /// Offer the guest crash MSRs (0x40000100-0x40000105): a panicking guest reports its
    /// registers and kernel log, which the VMM logs.
    public let offerCrashMSRs: Bool

    public init(vpCount: Int, tscFrequencyHz: UInt64, apicFrequencyHz: UInt64 = 1_000_000_000, offerCrashMSRs: Bool = true)
        throws(Error)
    {
        guard (1...Self.maxVPCount).contains(vpCount) else { throw .vpCountOutOfRange(vpCount) }
        guard tscFrequencyHz > 0, apicFrequencyHz > 0 else { throw .zeroFrequency }
        self.vpCount = vpCount
        self.tscFrequencyHz = tscFrequencyHz
        self.apicFrequencyHz = apicFrequencyHz
        self.offerCrashMSRs = offerCrashMSRs
    }
}
