import CKVM

/// One MSR index and value.
public struct MSRValue: Codable, Sendable, Hashable {
    public var index: UInt32
    public var value: UInt64
    public init(index: UInt32, value: UInt64) {
        self.index = index
        self.value = value
    }
}

/// Everything KVM holds for one vCPU, as saved for Save-VM. KVM ABI structures are kept as
/// their exact bytes (see `KernelStructBytes.swift`); optional parts are nil where this host's
/// KVM does not offer them (then they are neither saved nor restored).
public struct VCPUState: Codable, Sendable, Hashable {
    /// `kvm_regs`.
    public var regs: [UInt8]
    /// `kvm_sregs` (with the pending-interrupt bitmap).
    public var sregs: [UInt8]
    /// `kvm_fpu` (legacy x87/SSE state; always available).
    public var fpu: [UInt8]
    /// `kvm_xsave` (4 KiB), nil when `KVM_GET_XSAVE` fails here.
    public var xsave: [UInt8]?
    /// `kvm_xcrs`, nil when `KVM_GET_XCRS` fails here.
    public var xcrs: [UInt8]?
    /// `kvm_debugregs`, nil when `KVM_GET_DEBUGREGS` fails here.
    public var debugRegs: [UInt8]?
    /// `kvm_lapic_state` (1 KiB register page).
    public var lapic: [UInt8]
    /// `kvm_vcpu_events` (pending exceptions, interrupts, NMI, SMI).
    public var events: [UInt8]
    /// `KVM_MP_STATE_*`.
    public var mpState: UInt32
    /// Every MSR of `KVM_GET_MSR_INDEX_LIST` that KVM could read back.
    public var msrs: [MSRValue]

    public init(
        regs: [UInt8], sregs: [UInt8], fpu: [UInt8], xsave: [UInt8]?, xcrs: [UInt8]?, debugRegs: [UInt8]?,
        lapic: [UInt8], events: [UInt8], mpState: UInt32, msrs: [MSRValue]
    ) {
        self.regs = regs
        self.sregs = sregs
        self.fpu = fpu
        self.xsave = xsave
        self.xcrs = xcrs
        self.debugRegs = debugRegs
        self.lapic = lapic
        self.events = events
        self.mpState = mpState
        self.msrs = msrs
    }

    /// MSRs restored after the LAPIC, in this order (QEMU `kvm_put_tscdeadline_msr`): the TSC
    /// deadline is armed against the LAPIC timer mode the LAPIC state sets.
    static let afterLAPIC: Set<UInt32> = [0x6e0]
}

extension VCPU {
    /// Leaves nothing half-done in the kernel: an exit's completion (the value of an `in`, an
    /// MMIO read) is applied on the next `KVM_RUN`, so one `KVM_RUN` with `immediate_exit` set
    /// applies it and returns at once (the kernel API's documented way before reading state).
    /// - Returns: nil when the vCPU is settled; otherwise the exit that completing produced
    ///   (e.g. the next iteration of a `rep outs`), which the caller must handle and complete
    ///   before flushing again.
    public func flushPendingCompletion() throws(KVMError) -> VMExit? {
        checkOwnThread()
        page.setImmediateExit(true)
        defer { page.setImmediateExit(false) }
        let exit = try run()
        if case .interrupted = exit { return nil }
        return exit
    }

    /// Reads every part of this vCPU's state. Call it with the vCPU out of `KVM_RUN`, after
    /// `flushPendingCompletion()`.
    /// - Parameter msrIndices: `KVMSystem.msrIndexList()`; MSRs KVM cannot read are skipped.
    public func captureState(msrIndices: [UInt32]) throws(KVMError) -> VCPUState {
        checkOwnThread()
        var regs = kvm_regs()
        try kvmIoctl(fd.rawValue, .getRegs, &regs)
        var sregs = kvm_sregs()
        try kvmIoctl(fd.rawValue, .getSregs, &sregs)
        var fpu = kvm_fpu()
        try kvmIoctl(fd.rawValue, .getFPU, &fpu)
        var xsave = kvm_xsave()
        let xsaveBytes = (try? kvmIoctl(fd.rawValue, .getXSAVE, &xsave)).map { _ in structBytes(xsave) }
        var xcrs = kvm_xcrs()
        let xcrsBytes = (try? kvmIoctl(fd.rawValue, .getXCRs, &xcrs)).map { _ in structBytes(xcrs) }
        var debug = kvm_debugregs()
        let debugBytes = (try? kvmIoctl(fd.rawValue, .getDebugRegs, &debug)).map { _ in structBytes(debug) }
        var lapic = kvm_lapic_state()
        try kvmIoctl(fd.rawValue, .getLAPIC, &lapic)
        var events = kvm_vcpu_events()
        try kvmIoctl(fd.rawValue, .getVCPUEvents, &events)
        var mp = kvm_mp_state()
        try kvmIoctl(fd.rawValue, .getMPState, &mp)
        return VCPUState(
            regs: structBytes(regs), sregs: structBytes(sregs), fpu: structBytes(fpu), xsave: xsaveBytes,
            xcrs: xcrsBytes, debugRegs: debugBytes, lapic: structBytes(lapic), events: structBytes(events),
            mpState: mp.mp_state, msrs: try readableMSRs(msrIndices))
    }

    /// `KVM_GET_MSRS` stops at the first MSR it cannot read: read in batches, skipping each
    /// refused index, so one unreadable MSR does not lose the rest.
    private func readableMSRs(_ indices: [UInt32]) throws(KVMError) -> [MSRValue] {
        var result: [MSRValue] = []
        var rest = indices[...]
        while !rest.isEmpty {
            let batch = Array(rest)
            let values = try msrs(batch)
            var taken = 0
            for index in batch {
                guard let v = values[index] else { break }
                result.append(MSRValue(index: index, value: v))
                taken += 1
            }
            rest = rest.dropFirst(taken + 1)  // + 1: the refused one
        }
        return result
    }

    /// Writes `state` back, in the order QEMU and Firecracker use: MP state, special then
    /// general registers, FPU/XSAVE and XCRs, debug registers, LAPIC, MSRs (the TSC deadline
    /// last, after the LAPIC timer mode), then pending events. Call it on a vCPU that has its
    /// CPUID set and has not run.
    /// - Returns: MSR indices KVM refused (logged by the caller; the rest are restored).
    @discardableResult
    public func restoreState(_ state: VCPUState) throws(KVMError) -> [UInt32] {
        checkOwnThread()
        var mp = kvm_mp_state(mp_state: state.mpState)
        try kvmIoctl(fd.rawValue, .setMPState, &mp)
        var sregs = kvm_sregs()
        try loadStruct(&sregs, from: state.sregs, "KVM_SET_SREGS")
        try kvmIoctl(fd.rawValue, .setSregs, &sregs)
        var regs = kvm_regs()
        try loadStruct(&regs, from: state.regs, "KVM_SET_REGS")
        try kvmIoctl(fd.rawValue, .setRegs, &regs)
        var fpu = kvm_fpu()
        try loadStruct(&fpu, from: state.fpu, "KVM_SET_FPU")
        try kvmIoctl(fd.rawValue, .setFPU, &fpu)
        if let bytes = state.xsave {
            var xsave = kvm_xsave()
            try loadStruct(&xsave, from: bytes, "KVM_SET_XSAVE")
            try kvmIoctl(fd.rawValue, .setXSAVE, &xsave)
        }
        if let bytes = state.xcrs {
            var xcrs = kvm_xcrs()
            try loadStruct(&xcrs, from: bytes, "KVM_SET_XCRS")
            try kvmIoctl(fd.rawValue, .setXCRs, &xcrs)
        }
        if let bytes = state.debugRegs {
            var debug = kvm_debugregs()
            try loadStruct(&debug, from: bytes, "KVM_SET_DEBUGREGS")
            try kvmIoctl(fd.rawValue, .setDebugRegs, &debug)
        }
        var lapic = kvm_lapic_state()
        try loadStruct(&lapic, from: state.lapic, "KVM_SET_LAPIC")
        try kvmIoctl(fd.rawValue, .setLAPIC, &lapic)
        let early = state.msrs.filter { !VCPUState.afterLAPIC.contains($0.index) }
        let late = state.msrs.filter { VCPUState.afterLAPIC.contains($0.index) }
        let refused = try writeMSRsSkippingRefused(early + late)
        var events = kvm_vcpu_events()
        try loadStruct(&events, from: state.events, "KVM_SET_VCPU_EVENTS")
        try kvmIoctl(fd.rawValue, .setVCPUEvents, &events)
        return refused
    }

    /// `KVM_SET_MSRS` stops at the first MSR it refuses: write in batches, skipping each refused one.
    private func writeMSRsSkippingRefused(_ values: [MSRValue]) throws(KVMError) -> [UInt32] {
        var refused: [UInt32] = []
        var rest = values[...]
        while !rest.isEmpty {
            let written = try setMSRsCounting(rest.map { (index: $0.index, value: $0.value) })
            if written >= rest.count { break }
            refused.append(rest[rest.startIndex + written].index)
            rest = rest.dropFirst(written + 1)
        }
        return refused
    }
}
