// DEVNOTE: the feature set is the minimal honest one of the guest-requirements doc §2.1: only
// what this target implements is offered. Each bit left out is a deliberate choice (see
// docs/hyperv.md): a bit offered without its MSRs or hypercalls makes Linux 6.1 misbehave (R4).

extension HyperVConfiguration {
    /// Partition privileges offered in 0x40000003.EAX: SynIC, hypercall, VP index, frequency MSRs,
    /// invariant TSC (= 0x8864). No TIME_REF_COUNT/reference TSC page, no synthetic timers.
    public static let offeredPrivilegesLow: HvPrivilegesLow = [
        .synicMSRs, .hypercallMSRs, .vpIndexMSR, .frequencyMSRs, .tscInvariant,
    ]
    /// 0x40000003.EBX: HvPostMessage and HvSignalEvent (= 0x30). No partition id, no CPU
    /// management, no extended hypercalls.
    public static let offeredPrivilegesHigh: HvPrivilegesHigh = [.postMessages, .signalEvents]
    /// 0x40000004.EAX: only "deprecating auto-EOI" (= 0x200), so the guest EOIs vector 0xF3 in
    /// the in-kernel LAPIC (R2). No hypercall TLB flush or IPI hints.
    public static let offeredRecommendations: HvRecommendations = [.deprecatingAutoEOI]

    /// 0x40000003.EDX for this configuration.
    public var offeredMiscFeatures: HvMiscFeatures {
        offerCrashMSRs ? [.frequencyMSRsAvailable, .guestCrashMSRsAvailable] : [.frequencyMSRsAvailable]
    }

    /// The Hyper-V CPUID leaves 0x40000000-0x4000000A, every one defined (zero where unused).
    ///
    /// The VMM must expose no other hypervisor signature at 0x40000x00 (no KVM leaves, risk R1)
    /// and must set CPUID.1:ECX[31] (hypervisor present).
    public var cpuidLeaves: [CPUIDLeaf] {
        (HyperVCPUIDLeaf.vendorAndMaxFunction...HyperVCPUIDLeaf.lastDefined).map(leaf)
    }

    private func leaf(_ function: UInt32) -> CPUIDLeaf {
        switch function {
        case HyperVCPUIDLeaf.vendorAndMaxFunction:
            // "Microsoft Hv" in EBX, ECX, EDX.
            CPUIDLeaf(
                function: function, eax: HyperVCPUIDLeaf.lastDefined,
                ebx: fourCC("Micr"), ecx: fourCC("osof"), edx: fourCC("t Hv"))
        case HyperVCPUIDLeaf.interface:
            CPUIDLeaf(function: function, eax: fourCC("Hv#1"))
        case HyperVCPUIDLeaf.version:
            // Build 0, version 10.0: the TLFS interface generation these features come from.
            // Linux only prints it.
            CPUIDLeaf(function: function, eax: 0, ebx: 0x000A_0000)
        case HyperVCPUIDLeaf.features:
            CPUIDLeaf(
                function: function, eax: Self.offeredPrivilegesLow.rawValue,
                ebx: Self.offeredPrivilegesHigh.rawValue, ecx: 0, edx: offeredMiscFeatures.rawValue)
        case HyperVCPUIDLeaf.enlightenmentInfo:
            // EBX all ones: never notify long spin waits (as OpenVMM).
            CPUIDLeaf(function: function, eax: Self.offeredRecommendations.rawValue, ebx: 0xFFFF_FFFF)
        case HyperVCPUIDLeaf.implementationLimits:
            CPUIDLeaf(function: function, eax: UInt32(vpCount), ebx: UInt32(vpCount))
        default:
            CPUIDLeaf(function: function)
        }
    }
}

/// The four ASCII bytes of `s` as a little-endian register value ("Micr" → 0x7263694D).
private func fourCC(_ s: StaticString) -> UInt32 {
    precondition(s.utf8CodeUnitCount == 4, "a CPUID signature word has four bytes")
    var value: UInt32 = 0
    s.withUTF8Buffer { bytes in
        for (i, b) in bytes.enumerated() { value |= UInt32(b) << (8 * UInt32(i)) }
    }
    return value
}
