import Chipset
import KVM
import Logging

/// Everything one vCPU thread needs, handed to it once at spawn.
struct VCPUContext: Sendable {
    let machine: Machine
    let handle: VCPUHandle
    let io: MachineIO

    var index: Int { handle.index }

    /// The thread body: create the vCPU here (KVM wants vCPU ioctls from the creating thread),
    /// configure it, run it until the machine stops.
    func main() {
        var reason: StopReason?
        do throws(KVMError) {
            let vcpu = try machine.vm.createVCPU(id: index)
            reason = try withExtendedLifetime(vcpu) { () throws(KVMError) -> StopReason? in
                vcpu.enableKicks()
                handle.attach()
                // Marked gone (no more kicks) before the page is released with `vcpu`.
                defer { handle.detach() }
                try configure(vcpu)
                if let saved = machine.configuration.restore {
                    // Every vCPU waits for all to be restored, and vCPU 0 restores the VM-wide
                    // in-kernel devices and the clock last, so no vCPU runs on half a state.
                    if index == 0 { try machine.vm.restoreVMState(saved.kernel) }
                    machine.vcpuConfigured()
                    machine.waitForAllVCPUs(handle)
                } else {
                    machine.vcpuConfigured()
                    if index == 0 { machine.waitForAllVCPUs(handle) }
                }
                return runLoop(vcpu)
            }
        } catch {
            reason = .error("vCPU \(index): \(error)")
        }
        if let reason { machine.stop(reason) }
    }

    private func configure(_ vcpu: VCPU) throws(KVMError) {
        let config = machine.configuration
        try vcpu.setCPUID(Machine.cpuid(config.cpuid, vcpu: index, count: config.vcpuCount))
        if let saved = config.restore {
            let refused = try vcpu.restoreState(saved.vcpus[index])
            if !refused.isEmpty {
                machine.logger.warning(
                    "vCPU \(index): KVM refused saved MSRs \(refused.map { "0x" + String($0, radix: 16) })")
            }
            return
        }
        try vcpu.configureLegacyLINT()
        // Fast strings on, as firmware leaves it (Linux on Intel drops ERMS/REP_GOOD without it).
        do throws(KVMError) {
            try vcpu.setMSRs([(index: 0x1a0, value: 1)])
        } catch {
            machine.logger.debug("vCPU \(index): IA32_MISC_ENABLE not set: \(error)")
        }
        if index == 0 {
            let reset = try vcpu.specialRegisters()
            try vcpu.setSpecialRegisters(config.boot.specialRegisters(over: reset))
            try vcpu.setRegisters(config.boot.generalRegisters)
            try vcpu.initializeFPU()
        } else {
            // Application processors wait for INIT/SIPI from the boot CPU's LAPIC.
            try vcpu.setMPState(.uninitialized)
        }
    }

    /// Runs until a stop is requested (returns nil) or an exit stops the machine.
    private func runLoop(_ vcpu: VCPU) -> StopReason? {
        let cpuio = VCPUIO(vcpu: vcpu, io: io, logger: machine.logger)
        /// Completes what the kernel still holds for the last exit before state is read
        /// (`VCPUHandle.perform`): exits that completing produces are handled as usual.
        func settle() throws(KVMError) {
            for _ in 0..<4096 {
                guard let exit = try vcpu.flushPendingCompletion() else { return }
                handle.countExit(exit.category)
                if let reason = try process(exit, vcpu, cpuio) {
                    machine.stop(reason)
                    throw KVMError("KVM_RUN", .interrupted, detail: "the VM stopped (\(reason)) while its state was read")
                }
            }
            throw KVMError("KVM_RUN", .resourceBusy, detail: "vCPU \(index) kept exiting to user space; try again")
        }
        while !handle.stopRequested {
            handle.waitWhilePaused(vcpu, settle: settle)
            if handle.stopRequested { break }
            io.beforeEntry?(index)
            let exit: VMExit
            do throws(KVMError) {
                exit = try vcpu.run()
            } catch {
                return .error(describe("\(error)", cpuio))
            }
            handle.countExit(exit.category)
            do throws(KVMError) {
                if let reason = try process(exit, vcpu, cpuio) { return reason }
            } catch {
                return .error(describe("completing \(exit): \(error)", cpuio))
            }
        }
        return nil
    }

    /// Handles one exit and completes it; returns a reason when the exit stops the machine.
    private func process(_ exit: VMExit, _ vcpu: VCPU, _ cpuio: VCPUIO) throws(KVMError) -> StopReason? {
        switch VMM.handle(exit, io: cpuio) {
        case .resume(let completion):
            vcpu.complete(completion)
        case .resumeWithRegisters(let regs, let completion):
            try vcpu.setRegisters(regs)
            vcpu.complete(completion)
        case .emulated(let regs, let exception):
            handle.countEmulated()
            try vcpu.setRegisters(regs)
            if let exception { try vcpu.injectException(vector: exception) }
        case .interrupted, .halted:
            break
        case .stop(let reason):
            return reason
        }
        return nil
    }
}

/// The runtime's `CPUIO`: the machine's buses and handlers, and this vCPU's registers.
struct VCPUIO: CPUIO {
    let vcpu: VCPU
    let io: MachineIO
    let logger: Logger

    var vpIndex: Int { vcpu.id }
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt64 { io.portIO.read(port, width: width) }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64) {
        io.portIO.write(port, width: width, value: value)
    }
    func mmioRead(_ address: UInt64, width: AccessWidth) -> UInt64 { io.mmio.read(address, width: width) }
    func mmioWrite(_ address: UInt64, width: AccessWidth, value: UInt64) {
        io.mmio.write(address, width: width, value: value)
    }
    func readMSR(_ index: UInt32) -> UInt64? {
        let value = io.msrHandler.readMSR(index, vp: vcpu.id)
        if value == nil { logger.debug("vCPU \(vcpu.id): rdmsr 0x\(String(index, radix: 16)) refused (#GP)") }
        return value
    }
    func writeMSR(_ index: UInt32, value: UInt64) -> Bool {
        let accepted = io.msrHandler.writeMSR(index, value: value, vp: vcpu.id)
        if !accepted {
            logger.debug(
                "vCPU \(vcpu.id): wrmsr 0x\(String(index, radix: 16)) = 0x\(String(value, radix: 16)) refused (#GP)")
        }
        return accepted
    }
    func registerHook(for port: IOPort) -> (any RegisterPortHook)? { io.portHooks[port] }
    func registers() -> GeneralRegisters? { try? vcpu.registers() }
}
