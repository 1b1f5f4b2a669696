import Dispatch
import KVM
import Synchronization

extension Machine {
    /// Captures every vCPU and the in-kernel irqchip, PIT and clock. The machine must be
    /// paused (`pause()`); each vCPU completes its last exit (`flushPendingCompletion`) and
    /// reads its state on its own thread.
    /// - Throws: `VMMError(.invalidState)` when not paused or a vCPU does not answer within
    ///   `timeout` seconds; `.kvmSetup` with the `KVMError` when KVM refuses a read.
    public func captureState(timeout: Double = 10) throws(VMMError) -> MachineState {
        guard isPaused else { throw VMMError(.invalidState, "pause the machine before capturing its state") }
        let msrIndices: [UInt32]
        do throws(KVMError) {
            msrIndices = try vm.system.msrIndexList()
        } catch {
            throw VMMError(.kvmSetup, "cannot list the MSRs to save", cause: error)
        }
        let results = Mutex<[Int: Result<VCPUState, KVMError>]>([:])
        let done = DispatchSemaphore(value: 0)
        for handle in vcpuHandles {
            let index = handle.index
            handle.perform { vcpu, settle in
                let result = Result { () throws(KVMError) -> VCPUState in
                    try settle()
                    return try vcpu.captureState(msrIndices: msrIndices)
                }
                results.withLock { $0[index] = result }
                done.signal()
            }
        }
        let deadline = DispatchTime.now() + timeout
        for _ in vcpuHandles where done.wait(timeout: deadline) == .timedOut {
            throw VMMError(.invalidState, "a vCPU did not answer the state capture within \(Int(timeout)) s")
        }
        var vcpus: [VCPUState] = []
        for index in vcpuHandles.indices {
            switch results.withLock({ $0[index] }) {
            case .success(let s): vcpus.append(s)
            case .failure(let e): throw VMMError(.kvmSetup, "cannot read vCPU \(index)'s state", cause: e)
            case nil: throw VMMError(.invalidState, "vCPU \(index) did not capture its state")
            }
        }
        do throws(KVMError) {
            let kernel = try vm.captureKernelState(hasPIT: configuration.inKernelPIT)
            return MachineState(vcpus: vcpus, kernel: kernel)
        } catch {
            throw VMMError(.kvmSetup, "cannot read the in-kernel irqchip, PIT or clock", cause: error)
        }
    }
}

extension VirtualMachine {
    /// Irqchip and PIT, then kvmclock (last: just before the vCPUs run).
    func restoreVMState(_ state: VMKernelState) throws(KVMError) {
        try restoreDeviceState(state)
        try setClock(nanoseconds: state.clockNanoseconds)
    }
}
