import Chipset
import KVM

/// What the vCPU loop does after an exit.
public enum ExitAction: Sendable, Hashable {
    /// Write the completion into `kvm_run` and re-enter the guest.
    case resume(ExitCompletion)
    /// Set the general registers (a register-aware port hook changed them), write the
    /// completion, and re-enter.
    case resumeWithRegisters(GeneralRegisters, ExitCompletion)
    /// An instruction was emulated in user space: set the registers, inject `exception` if any,
    /// and re-enter.
    case emulated(GeneralRegisters, exception: UInt8?)
    /// The run was interrupted (a kick): check for stop requests, then re-enter.
    case interrupted
    /// `hlt` reached user space (only without an in-kernel LAPIC): re-enter.
    case halted
    /// Stop the whole machine.
    case stop(StopReason)
}

/// Turns one decoded exit into an action. Pure apart from the `CPUIO` seam: device, MSR and
/// register effects go through `io`, so it is unit-tested with a fake.
public func handle(_ exit: VMExit, io: some CPUIO) -> ExitAction {
    switch exit {
    case .ioOut(let port, let size, let values):
        guard let width = AccessWidth(byteCount: size) else {
            return .stop(.error(describe("port write of \(size) bytes to \(hex(UInt64(port)))", io)))
        }
        let p = IOPort(port)
        if let hook = io.registerHook(for: p) {
            guard var regs = io.registers() else {
                return .stop(.error("vCPU \(io.vpIndex): registers unreadable for hooked port \(p)"))
            }
            let before = regs
            for v in values { hook.portWrite(p, width: width, value: v, registers: &regs, vp: io.vpIndex) }
            return regs == before ? .resume(.none) : .resumeWithRegisters(regs, .none)
        }
        for v in values { io.portWrite(p, width: width, value: v) }
        return .resume(.none)

    case .ioIn(let port, let size, let count):
        guard let width = AccessWidth(byteCount: size) else {
            return .stop(.error(describe("port read of \(size) bytes from \(hex(UInt64(port)))", io)))
        }
        let p = IOPort(port)
        if let hook = io.registerHook(for: p) {
            guard var regs = io.registers() else {
                return .stop(.error("vCPU \(io.vpIndex): registers unreadable for hooked port \(p)"))
            }
            let before = regs
            let values = (0..<count).map { _ in
                width.truncate(hook.portRead(p, width: width, registers: &regs, vp: io.vpIndex))
            }
            return regs == before ? .resume(.ioIn(values)) : .resumeWithRegisters(regs, .ioIn(values))
        }
        return .resume(.ioIn((0..<count).map { _ in width.truncate(io.portRead(p, width: width)) }))

    case .mmioRead(let address, let size):
        guard let width = AccessWidth(byteCount: size) else {
            return .stop(.error(describe("MMIO read of \(size) bytes at \(hex(address))", io)))
        }
        return .resume(.mmioRead(width.truncate(io.mmioRead(address, width: width))))

    case .mmioWrite(let address, let size, let value):
        guard let width = AccessWidth(byteCount: size) else {
            return .stop(.error(describe("MMIO write of \(size) bytes at \(hex(address))", io)))
        }
        io.mmioWrite(address, width: width, value: width.truncate(value))
        return .resume(.none)

    case .rdmsr(let index, _):
        return .resume(.msrRead(io.readMSR(index)))

    case .wrmsr(let index, let value, _):
        return .resume(.msrWrite(accepted: io.writeMSR(index, value: value)))

    case .hlt:
        return .halted

    case .interrupted:
        return .interrupted

    case .shutdown:
        // A triple fault: a PC resets.
        return .stop(.reset)

    case .systemEvent(let event):
        switch event.kind {
        case .shutdown: return .stop(.powerOff)
        case .reset: return .stop(.reset)
        default: return .stop(.error(describe("system event \(event.kind.rawValue) \(event.data.map { hex($0) })", io)))
        }

    case .failEntry(let reason, let cpu):
        return .stop(.error(describe("VM entry failed, hardware reason \(hex(reason)) on host CPU \(cpu)", io)))

    case .internalError(let error):
        guard error.isEmulationFailure, let bytes = error.instructionBytes else {
            return .stop(.error(describe("KVM \(error)", io)))
        }
        let shown = bytes.map { hexByte($0) }.joined(separator: " ")
        switch EmulationFallback.decide(bytes) {
        case .emulate(let length, let setFlags, let clearFlags, let inject):
            guard var regs = io.registers() else {
                return .stop(.error("vCPU \(io.vpIndex): registers unreadable to emulate [\(shown)]"))
            }
            regs.rip &+= length
            regs.rflags = (regs.rflags | setFlags) & ~clearFlags
            return .emulated(regs, exception: inject)
        case .unsupported(let mnemonic):
            let name = mnemonic.map { "`\($0)` " } ?? ""
            return .stop(.error(describe("KVM cannot emulate \(name)[\(shown)]", io)))
        }

    case .unknown(let reason, let detail):
        return .stop(.error(describe("unhandled exit reason \(reason)\(detail.isEmpty ? "" : ": " + detail)", io)))
    }
}

/// "vCPU n at RIP 0x...: cause".
func describe(_ cause: String, _ io: some CPUIO) -> String {
    let rip = io.registers().map { "RIP \(hex($0.rip))" } ?? "unknown RIP"
    return "vCPU \(io.vpIndex) at \(rip): \(cause)"
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
func hexByte(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}
