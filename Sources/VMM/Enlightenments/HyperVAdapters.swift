import Chipset
import HyperV
import KVM

/// The Hyper-V partition as the runtime's MSR handler (the filtered range 0x40000000-0x400001FF).
struct HyperVMSRHandler: MSRHandler {
    let partition: HyperVPartition
    func readMSR(_ index: UInt32, vp: Int) -> UInt64? { partition.readMSR(index, vp: vp) }
    func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool { partition.writeMSR(index, value: value, vp: vp) }
}

/// The hypercall page's trap: `out 0xEB, al` with RCX = control, RDX/R8 = input/output
/// (`vmcall` cannot reach user space on this host, docs/hyperv.md). The result goes to RAX.
struct HypercallTrapHook: RegisterPortHook {
    let partition: HyperVPartition

    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64, registers: inout GeneralRegisters, vp: Int) {
        // A stray `out 0xEB` outside the hypercall page is not a hypercall: ignore it.
        guard HypercallPage.isTrap(port: port.rawValue, isWrite: true, size: width.rawValue, rip: registers.rip) else {
            return
        }
        registers.rax = partition.handleHypercall(rcx: registers.rcx, rdx: registers.rdx, r8: registers.r8, vp: vp)
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
