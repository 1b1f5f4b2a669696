import GuestMemory

/// The partition-wide Hyper-V registers a saved VM needs back (G14: not the runtime type).
///
/// Not saved: the hypercall page's code (it is in guest RAM, saved with RAM) and the VP index
/// and frequency MSRs (they follow from the configuration, which must match).
public struct PartitionSavedState: Codable, Sendable, Equatable {
    public var guestOSID: UInt64
    public var hypercall: UInt64
    public var tscInvariantControl: UInt64
    /// HV_X64_MSR_CRASH_P0..P4.
    public var crashParameters: [UInt64]
    /// HV_X64_MSR_VP_ASSIST_PAGE per VP.
    public var vpAssistPages: [UInt64]
    /// The partition reference time (TIME_REF_COUNT, 100 ns) when saved: the restored partition
    /// continues from it, so the guest's clocksource never goes backwards.
    public var referenceTime: UInt64
}

extension HyperVPartition {
    /// Captures the partition registers. Call with every vCPU paused.
    public func captureState() -> PartitionSavedState {
        let time = referenceTime(vp: 0)
        return state.withLock { s in
            PartitionSavedState(
                guestOSID: s.guestOSID, hypercall: s.hypercall, tscInvariantControl: s.tscInvariantControl,
                crashParameters: s.crashParameters, vpAssistPages: s.vpAssistPages, referenceTime: time)
        }
    }

    /// Restores the registers into a partition built from the same configuration, before the
    /// first `KVM_RUN`. Guest RAM (hypercall page included) must already be restored: nothing is
    /// written into it.
    /// - Throws: `HyperVSavedStateError` for a VP count mismatch or a hypercall page outside RAM.
    public func restore(_ saved: PartitionSavedState) throws(HyperVSavedStateError) {
        let component = "partition"
        guard saved.vpAssistPages.count == configuration.vpCount else {
            throw HyperVSavedStateError(
                component, "\(saved.vpAssistPages.count) VP assist pages for \(configuration.vpCount) VPs")
        }
        guard saved.crashParameters.count == 5 else {
            throw HyperVSavedStateError(component, "\(saved.crashParameters.count) crash parameters, not 5")
        }
        if saved.hypercall & SyntheticMSRLayout.enableBit != 0 {
            let page = GuestPhysicalAddress(saved.hypercall & SyntheticMSRLayout.pageAddressMask)
            guard memory.isValid(page, count: UInt64(SynICLayout.pageSize)) else {
                throw HyperVSavedStateError(component, "hypercall page \(page) is outside RAM")
            }
        }
        state.withLock { s in
            s.guestOSID = saved.guestOSID
            s.hypercall = saved.hypercall
            s.tscInvariantControl = saved.tscInvariantControl
            s.crashParameters = saved.crashParameters
            s.vpAssistPages = saved.vpAssistPages
        }
        continueReferenceTime(from: saved.referenceTime)
    }
}
