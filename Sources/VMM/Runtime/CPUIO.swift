import Chipset
import KVM

/// MSR accesses the guest makes that KVM sends to user space (the filtered Hyper-V range
/// 0x40000000-0x400001FF, and MSRs KVM does not know).
public protocol MSRHandler: Sendable {
    /// The value `rdmsr` returns on virtual processor `vp`, or `nil` to inject #GP.
    func readMSR(_ index: UInt32, vp: Int) -> UInt64?
    /// Handles `wrmsr` on `vp`; `false` injects #GP.
    func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool
}

/// An MSR handler that refuses everything (#GP): the default when no enlightenments run.
public struct NoMSRs: MSRHandler {
    public init() {}
    public func readMSR(_ index: UInt32, vp: Int) -> UInt64? { nil }
    public func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool { false }
}

/// A port-I/O handler that sees and may change the vCPU's general registers: for trap code
/// such as the Hyper-V hypercall page (`out imm8, al` with the inputs in RCX/RDX/R8 and the
/// result in RAX). Registered per port; other ports go to the `PortIOBus`.
///
/// Change only general registers other than RIP: KVM advances RIP itself. For `portRead`, the
/// low bytes of RAX are overwritten by the returned value when KVM completes the `in`.
public protocol RegisterPortHook: Sendable {
    /// An `out` to a hooked port.
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64, registers: inout GeneralRegisters, vp: Int)
    /// An `in` from a hooked port; returns the value read.
    func portRead(_ port: IOPort, width: AccessWidth, registers: inout GeneralRegisters, vp: Int) -> UInt64
}

extension RegisterPortHook {
    public func portRead(_ port: IOPort, width: AccessWidth, registers: inout GeneralRegisters, vp: Int) -> UInt64 {
        width.allOnes
    }
}

/// The seam between the exit handler and everything it dispatches to (openvmm's `CpuIo`):
/// buses, MSRs, register-aware port hooks and the vCPU's registers. The runtime's conformer
/// talks to devices and the vCPU; tests pass fakes.
public protocol CPUIO {
    /// The virtual processor index (= vCPU id) this access came from.
    var vpIndex: Int { get }
    func portRead(_ port: IOPort, width: AccessWidth) -> UInt64
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64)
    func mmioRead(_ address: UInt64, width: AccessWidth) -> UInt64
    func mmioWrite(_ address: UInt64, width: AccessWidth, value: UInt64)
    /// `nil` injects #GP.
    func readMSR(_ index: UInt32) -> UInt64?
    /// `false` injects #GP.
    func writeMSR(_ index: UInt32, value: UInt64) -> Bool
    /// The register-aware hook for `port`, if one is registered.
    func registerHook(for port: IOPort) -> (any RegisterPortHook)?
    /// The vCPU's current general registers (`KVM_GET_REGS`), or `nil` if they cannot be read.
    func registers() -> GeneralRegisters?
}

/// What a machine's vCPUs dispatch to: the chipset's buses, the MSR handler and register hooks.
public struct MachineIO: Sendable {
    public var portIO: PortIOBus
    public var mmio: MMIOBus
    public var msrHandler: any MSRHandler
    public var portHooks: [IOPort: any RegisterPortHook]
    /// Called on each vCPU's own thread before every `KVM_RUN` (with the vCPU index): work that
    /// must happen on that thread while the guest is stopped, such as SynIC message delivery.
    public var beforeEntry: (@Sendable (Int) -> Void)?

    public init(
        portIO: PortIOBus, mmio: MMIOBus, msrHandler: any MSRHandler = NoMSRs(),
        portHooks: [IOPort: any RegisterPortHook] = [:], beforeEntry: (@Sendable (Int) -> Void)? = nil
    ) {
        self.portIO = portIO
        self.mmio = mmio
        self.msrHandler = msrHandler
        self.portHooks = portHooks
        self.beforeEntry = beforeEntry
    }
}
