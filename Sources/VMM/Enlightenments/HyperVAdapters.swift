import Chipset
import HyperV
import KVM
import Logging

/// The Hyper-V partition as the runtime's MSR handler (the filtered range 0x40000000-0x400001FF).
struct HyperVMSRHandler: MSRHandler {
    let partition: HyperVPartition
    let logger: Logger
    func readMSR(_ index: UInt32, vp: Int) -> UInt64? {
        let value = partition.readMSR(index, vp: vp)
        logger.trace("vp\(vp) rdmsr 0x\(String(index, radix: 16)) -> \(value.map { "0x" + String($0, radix: 16) } ?? "#GP")")
        return value
    }
    func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool {
        let ok = partition.writeMSR(index, value: value, vp: vp)
        logger.trace("vp\(vp) wrmsr 0x\(String(index, radix: 16)) = 0x\(String(value, radix: 16))\(ok ? "" : " -> #GP")")
        return ok
    }
}

/// The hypercall page's trap: `out 0xEB, al` with RCX = control, RDX/R8 = input/output
/// (`vmcall` cannot reach user space on this host, docs/hyperv.md). The result goes to RAX.
struct HypercallTrapHook: RegisterPortHook {
    let partition: HyperVPartition
    let logger: Logger

    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64, registers: inout GeneralRegisters, vp: Int) {
        // A stray `out 0xEB` outside the hypercall page is not a hypercall: ignore it.
        guard HypercallPage.isTrap(port: port.rawValue, isWrite: true, size: width.rawValue, rip: registers.rip) else {
            logger.debug("vp\(vp) out to the hypercall port at RIP 0x\(String(registers.rip, radix: 16)), outside the hypercall page: ignored")
            return
        }
        registers.rax = partition.handleHypercall(rcx: registers.rcx, rdx: registers.rdx, r8: registers.r8, vp: vp)
        logger.trace("vp\(vp) hypercall 0x\(String(registers.rcx, radix: 16)) -> 0x\(String(registers.rax, radix: 16))")
    }
}

/// SynIC interrupts as fixed MSIs to the target vCPU's LAPIC (APIC id = VP index).
struct MSISynICInterruptSink: SynICInterruptSink {
    let msi: MSISender
    func interrupt(vp: UInt32, vector: UInt8) {
        guard vp <= UInt32(UInt8.max) else { return }
        msi.send(vector: vector, toAPIC: UInt8(vp))
    }
}

extension CPUIDEntry {
    /// A Hyper-V leaf as KVM's CPUID entry.
    init(_ leaf: CPUIDLeaf) {
        self.init(function: leaf.function, index: leaf.index, eax: leaf.eax, ebx: leaf.ebx, ecx: leaf.ecx, edx: leaf.edx)
    }
}
