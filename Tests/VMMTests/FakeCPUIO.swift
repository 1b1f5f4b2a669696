import Chipset
import KVM
import Synchronization
import VMM

/// A CPUIO that records every access and answers from tables.
final class FakeCPUIO: CPUIO {
    var vpIndex: Int = 0
    var portValues: [UInt16: UInt64] = [:]
    var mmioValues: [UInt64: UInt64] = [:]
    var msrValues: [UInt32: UInt64] = [:]
    var acceptedMSRWrites: Set<UInt32> = []
    var hooks: [IOPort: any RegisterPortHook] = [:]
    var regs: GeneralRegisters? = GeneralRegisters()

    enum Access: Equatable {
        case portRead(UInt16, AccessWidth), portWrite(UInt16, AccessWidth, UInt64)
        case mmioRead(UInt64, AccessWidth), mmioWrite(UInt64, AccessWidth, UInt64)
        case msrRead(UInt32), msrWrite(UInt32, UInt64)
    }
    var log: [Access] = []

    func portRead(_ port: IOPort, width: AccessWidth) -> UInt64 {
        log.append(.portRead(port.rawValue, width))
        return portValues[port.rawValue] ?? width.allOnes
    }
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64) {
        log.append(.portWrite(port.rawValue, width, value))
    }
    func mmioRead(_ address: UInt64, width: AccessWidth) -> UInt64 {
        log.append(.mmioRead(address, width))
        return mmioValues[address] ?? width.allOnes
    }
    func mmioWrite(_ address: UInt64, width: AccessWidth, value: UInt64) {
        log.append(.mmioWrite(address, width, value))
    }
    func readMSR(_ index: UInt32) -> UInt64? {
        log.append(.msrRead(index))
        return msrValues[index]
    }
    func writeMSR(_ index: UInt32, value: UInt64) -> Bool {
        log.append(.msrWrite(index, value))
        return acceptedMSRWrites.contains(index)
    }
    func registerHook(for port: IOPort) -> (any RegisterPortHook)? { hooks[port] }
    func registers() -> GeneralRegisters? { regs }
}

/// A hypercall-style hook: RAX = RCX + RDX + R8, and records what it saw.
final class AddingHook: RegisterPortHook {
    let seen = Mutex<[UInt64]>([])
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64, registers: inout GeneralRegisters, vp: Int) {
        seen.withLock { $0.append(value) }
        registers.rax = registers.rcx &+ registers.rdx &+ registers.r8
    }
    func portRead(_ port: IOPort, width: AccessWidth, registers: inout GeneralRegisters, vp: Int) -> UInt64 {
        registers.rbx = 0x77
        return 0x1234
    }
}
