import Testing

@testable import KVM

/// Every state ioctl Save-VM uses, on this host's KVM (nested KVM-PVM on the development
/// machines: the results are printed, docs/saved-state.md records them).
@Suite(.enabled(if: KVMAvailability.isUsable, "needs a usable /dev/kvm")) struct StateIoctlTests {
    @Test func captureAndRestoreRoundTripOnAFreshVCPU() throws {
        let system = try KVMSystem.open()
        let vm = try system.createVM()
        try vm.createIRQChip()
        try vm.createPIT2()
        let vcpu = try vm.createVCPU(id: 0)
        let indices = try system.msrIndexList()
        let state = try vcpu.captureState(msrIndices: indices)
        print(
            "StateIoctlTests: xsave \(state.xsave != nil), xcrs \(state.xcrs != nil), debugregs \(state.debugRegs != nil), MSRs readable \(state.msrs.count) of \(indices.count) listed"
        )
        #expect(state.regs.count > 0 && state.lapic.count == 1024)
        #expect(!state.msrs.isEmpty)
        let refused = try vcpu.restoreState(state)
        print("StateIoctlTests: MSRs refused on restore: \(refused.map { "0x" + String($0, radix: 16) })")
        let again = try vcpu.captureState(msrIndices: indices)
        #expect(again.regs == state.regs)
        #expect(again.lapic == state.lapic)

        let kernel = try vm.captureKernelState(hasPIT: true)
        #expect(kernel.irqchips.count == 3)
        #expect(kernel.pit != nil)
        try vm.restoreDeviceState(kernel)
        try vm.setClock(nanoseconds: kernel.clockNanoseconds + 1_000_000_000)
        let later = try vm.captureKernelState(hasPIT: true)
        #expect(later.clockNanoseconds >= kernel.clockNanoseconds + 1_000_000_000, "KVM_SET_CLOCK did not take")
    }

    @Test func wrongSizedStateIsRefusedBeforeAnyIoctl() throws {
        let system = try KVMSystem.open()
        let vm = try system.createVM()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        var state = try vcpu.captureState(msrIndices: [])
        state.sregs = [1, 2, 3]
        #expect(throws: KVMError.self) { try vcpu.restoreState(state) }
        var kernel = try vm.captureKernelState(hasPIT: false)
        kernel.irqchips = [[0]]
        #expect(throws: KVMError.self) { try vm.restoreDeviceState(kernel) }
    }
}
