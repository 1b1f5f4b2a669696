/// User-space fallback for instructions KVM's emulator cannot execute (on the nested KVM-PVM
/// hosts guest ring 0 is emulated, and `KVM_EXIT_INTERNAL_ERROR` suberror 1 reports the bytes;
/// see ENVIRONMENT.md). A pure decoder: it says what to do, the runtime does it.
public enum EmulationFallback {
    /// What to do with the failed instruction.
    public enum Decision: Sendable, Hashable {
        /// Emulated: advance RIP by `length`, set/clear RFLAGS bits, then optionally inject an exception.
        case emulate(length: UInt64, setFlags: UInt64, clearFlags: UInt64, inject: UInt8?)
        /// Not emulated: stop the VM. `mnemonic` when the instruction is recognised.
        case unsupported(mnemonic: String?)
    }

    /// RFLAGS.AC (alignment check / SMAP override), bit 18.
    public static let rflagsAC: UInt64 = 1 << 18
    /// The #BP vector.
    public static let breakpointVector: UInt8 = 3

    /// Decides what to do with the instruction whose bytes KVM reported.
    public static func decide(_ bytes: [UInt8]) -> Decision {
        // Only exact, prefix-free forms are emulated: a prefix would change their meaning.
        if bytes.first == 0xcc { return .emulate(length: 1, setFlags: 0, clearFlags: 0, inject: breakpointVector) }
        if bytes.first == 0x9b { return .emulate(length: 1, setFlags: 0, clearFlags: 0, inject: nil) }
        if bytes.starts(with: [0x0f, 0x01, 0xca]) {
            return .emulate(length: 3, setFlags: 0, clearFlags: rflagsAC, inject: nil)  // clac
        }
        if bytes.starts(with: [0x0f, 0x01, 0xcb]) {
            return .emulate(length: 3, setFlags: rflagsAC, clearFlags: 0, inject: nil)  // stac
        }
        return .unsupported(mnemonic: mnemonic(bytes))
    }

    /// A best-effort name for an instruction, for the error message (`nil` when unknown).
    public static func mnemonic(_ bytes: [UInt8]) -> String? {
        var i = 0
        var lock = false, rep = false, repne = false, operandSize = false
        // Legacy prefixes, at most 4 (more is not a valid instruction anyway).
        while i < bytes.count && i < 4 {
            switch bytes[i] {
            case 0xf0: lock = true
            case 0xf3: rep = true
            case 0xf2: repne = true
            case 0x66: operandSize = true
            case 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x67: break
            default: break
            }
            if [0xf0, 0xf3, 0xf2, 0x66, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x67].contains(bytes[i]) {
                i += 1
            } else {
                break
            }
        }
        var rexW = false
        if i < bytes.count, bytes[i] & 0xf0 == 0x40 {
            rexW = bytes[i] & 0x08 != 0
            i += 1
        }
        guard i < bytes.count else { return nil }
        let op = bytes[i]
        func at(_ k: Int) -> UInt8? { i + k < bytes.count ? bytes[i + k] : nil }
        func modrmReg(_ k: Int) -> UInt8? { at(k).map { ($0 >> 3) & 7 } }
        func modrmIsRegister(_ k: Int) -> Bool { at(k).map { $0 >> 6 == 3 } ?? false }
        let prefix = lock ? "lock " : ""
        switch op {
        case 0xcc: return "int3"
        case 0x9b: return "fwait"
        case 0xf4: return "hlt"
        case 0xc4, 0xc5: return "VEX-encoded (AVX) instruction"
        case 0x62: return "EVEX-encoded (AVX-512) instruction"
        case 0x0f: break
        default: return nil
        }
        guard let op2 = at(1) else { return nil }
        switch op2 {
        case 0x01:
            switch at(2) {
            case 0xca: return "clac"
            case 0xcb: return "stac"
            case 0xd0: return "xgetbv"
            case 0xd1: return "xsetbv"
            case 0xc1: return "vmcall"
            case 0xd9: return "vmmcall"
            case 0xf9: return "rdtscp"
            case 0xc8: return "monitor"
            case 0xc9: return "mwait"
            default: return nil
            }
        case 0x05: return "syscall"
        case 0x07: return "sysret"
        case 0x0b: return "ud2"
        case 0x31: return "rdtsc"
        case 0xa2: return "cpuid"
        case 0xae:
            guard let reg = modrmReg(2) else { return nil }
            if modrmIsRegister(2) {
                return [5: "lfence", 6: "mfence", 7: "sfence"][reg]
            }
            let w = rexW ? "64" : ""
            return [
                0: "fxsave\(w)", 1: "fxrstor\(w)", 2: "ldmxcsr", 3: "stmxcsr", 4: "xsave\(w)", 5: "xrstor\(w)",
                6: "xsaveopt\(w)", 7: "clflush",
            ][reg]
        case 0xc7:
            guard let reg = modrmReg(2) else { return nil }
            if modrmIsRegister(2) { return [6: "rdrand", 7: "rdseed"][reg] }
            if reg == 1 { return prefix + (rexW ? "cmpxchg16b" : "cmpxchg8b") }
            if reg == 3 { return "xrstors" }
            if reg == 5 { return "xsaves" }
            return nil
        case 0xb8 where rep: return "popcnt"
        case 0xbc where rep: return "tzcnt"
        case 0xbd where rep: return "lzcnt"
        case 0x38:
            switch at(2) {
            case 0xf0, 0xf1: return repne ? "crc32" : "movbe"
            case 0x00 where operandSize: return "pshufb"
            case .some(let b) where operandSize && b >= 0xc8 && b <= 0xcd: return "sha"
            case .some(let b) where operandSize && b >= 0xdb && b <= 0xdf: return "aes"
            case .some: return operandSize ? "SSSE3/SSE4 instruction" : nil
            default: return nil
            }
        case 0x3a:
            switch at(2) {
            case 0x44 where operandSize: return "pclmulqdq"
            case 0xdf where operandSize: return "aeskeygenassist"
            case .some: return operandSize ? "SSE4 instruction" : nil
            default: return nil
            }
        default:
            return nil
        }
    }
}
