import CKVM

/// The VM-wide in-kernel device state, as saved for Save-VM: the irqchip (PIC master, PIC
/// slave, IOAPIC), the PIT and kvmclock. KVM ABI structures are kept as their exact bytes.
public struct VMKernelState: Codable, Sendable, Hashable {
    /// `kvm_irqchip` for chip ids 0 (PIC master), 1 (PIC slave), 2 (IOAPIC), in that order.
    public var irqchips: [[UInt8]]
    /// `kvm_pit_state2`, nil for a VM without the in-kernel PIT.
    public var pit: [UInt8]?
    /// kvmclock in nanoseconds at save time (`KVM_GET_CLOCK`).
    public var clockNanoseconds: UInt64

    public init(irqchips: [[UInt8]], pit: [UInt8]?, clockNanoseconds: UInt64) {
        self.irqchips = irqchips
        self.pit = pit
        self.clockNanoseconds = clockNanoseconds
    }
}

extension VirtualMachine {
    private static let irqchipIDs: [UInt32] = [
        UInt32(KVM_IRQCHIP_PIC_MASTER), UInt32(KVM_IRQCHIP_PIC_SLAVE), UInt32(KVM_IRQCHIP_IOAPIC),
    ]

    /// Reads the irqchip, PIT and clock. Call it with every vCPU out of `KVM_RUN`.
    public func captureKernelState(hasPIT: Bool) throws(KVMError) -> VMKernelState {
        var chips: [[UInt8]] = []
        for id in Self.irqchipIDs {
            var chip = kvm_irqchip()
            chip.chip_id = id
            try kvmIoctl(fd.rawValue, .getIRQChip, &chip, detail: "chip \(id)")
            chips.append(structBytes(chip))
        }
        var pitBytes: [UInt8]?
        if hasPIT {
            var pit = kvm_pit_state2()
            try kvmIoctl(fd.rawValue, .getPIT2, &pit)
            pitBytes = structBytes(pit)
        }
        var clock = kvm_clock_data()
        try kvmIoctl(fd.rawValue, .getClock, &clock)
        return VMKernelState(irqchips: chips, pit: pitBytes, clockNanoseconds: clock.clock)
    }

    /// Writes the irqchip and PIT back (vCPUs created, before the first `KVM_RUN`).
    public func restoreDeviceState(_ state: VMKernelState) throws(KVMError) {
        guard state.irqchips.count == Self.irqchipIDs.count else {
            throw KVMError("KVM_SET_IRQCHIP", .invalidArgument, detail: "saved state has \(state.irqchips.count) chips")
        }
        for (id, bytes) in zip(Self.irqchipIDs, state.irqchips) {
            var chip = kvm_irqchip()
            try loadStruct(&chip, from: bytes, "KVM_SET_IRQCHIP")
            guard chip.chip_id == id else {
                throw KVMError("KVM_SET_IRQCHIP", .invalidArgument, detail: "chip \(chip.chip_id) where \(id) belongs")
            }
            try kvmIoctl(fd.rawValue, .setIRQChip, &chip, detail: "chip \(id)")
        }
        if let bytes = state.pit {
            var pit = kvm_pit_state2()
            try loadStruct(&pit, from: bytes, "KVM_SET_PIT2")
            try kvmIoctl(fd.rawValue, .setPIT2, &pit)
        }
    }

    /// `KVM_SET_CLOCK`: kvmclock continues from `nanoseconds` (the value saved), so guest time
    /// neither jumps back nor counts the time the VM was saved. Call it last, just before the
    /// vCPUs run.
    public func setClock(nanoseconds: UInt64) throws(KVMError) {
        var clock = kvm_clock_data()
        clock.clock = nanoseconds
        try kvmIoctl(fd.rawValue, .setClock, &clock)
    }
}
