import CKVM

/// A KVM ioctl request number with its kernel name. The numbers come from `CKVM` (where the C
/// `_IO*` macros expand); `KVMTests` pins them against the asm-generic encoding.
public struct IoctlRequest: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    /// The kernel's name for the request, used in error messages.
    public let name: String

    init(_ rawValue: UInt, _ name: String) {
        self.rawValue = rawValue
        self.name = name
    }

    public var description: String { "\(name) (0x\(String(rawValue, radix: 16)))" }

    /// The asm-generic encoding (x86_64, arm64): direction in bits 30-31, size 16-29, type 8-15, number 0-7.
    public static func encode(direction: UInt, type: UInt8, number: UInt8, size: Int) -> UInt {
        precondition(size >= 0 && size < 1 << 14, "ioctl payload too large for the size field")
        return direction << 30 | UInt(size) << 16 | UInt(type) << 8 | UInt(number)
    }

    // /dev/kvm
    public static let getAPIVersion = Self(CKVM_GET_API_VERSION, "KVM_GET_API_VERSION")
    public static let createVM = Self(CKVM_CREATE_VM, "KVM_CREATE_VM")
    public static let checkExtension = Self(CKVM_CHECK_EXTENSION, "KVM_CHECK_EXTENSION")
    public static let getVCPUMmapSize = Self(CKVM_GET_VCPU_MMAP_SIZE, "KVM_GET_VCPU_MMAP_SIZE")
    public static let getSupportedCPUID = Self(CKVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID")
    public static let getMSRIndexList = Self(CKVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST")
    // VM
    public static let setUserMemoryRegion = Self(CKVM_SET_USER_MEMORY_REGION, "KVM_SET_USER_MEMORY_REGION")
    public static let createVCPU = Self(CKVM_CREATE_VCPU, "KVM_CREATE_VCPU")
    public static let createIRQChip = Self(CKVM_CREATE_IRQCHIP, "KVM_CREATE_IRQCHIP")
    public static let createPIT2 = Self(CKVM_CREATE_PIT2, "KVM_CREATE_PIT2")
    public static let setTSSAddress = Self(CKVM_SET_TSS_ADDR, "KVM_SET_TSS_ADDR")
    public static let setIdentityMapAddress = Self(CKVM_SET_IDENTITY_MAP_ADDR, "KVM_SET_IDENTITY_MAP_ADDR")
    public static let enableCap = Self(CKVM_ENABLE_CAP, "KVM_ENABLE_CAP")
    public static let setMSRFilter = Self(CKVM_X86_SET_MSR_FILTER, "KVM_X86_SET_MSR_FILTER")
    public static let signalMSI = Self(CKVM_SIGNAL_MSI, "KVM_SIGNAL_MSI")
    public static let irqLine = Self(CKVM_IRQ_LINE, "KVM_IRQ_LINE")
    public static let irqfd = Self(CKVM_IRQFD, "KVM_IRQFD")
    public static let ioeventfd = Self(CKVM_IOEVENTFD, "KVM_IOEVENTFD")
    public static let getIRQChip = Self(CKVM_GET_IRQCHIP, "KVM_GET_IRQCHIP")
    public static let setIRQChip = Self(CKVM_SET_IRQCHIP, "KVM_SET_IRQCHIP")
    public static let getPIT2 = Self(CKVM_GET_PIT2, "KVM_GET_PIT2")
    public static let setPIT2 = Self(CKVM_SET_PIT2, "KVM_SET_PIT2")
    public static let getClock = Self(CKVM_GET_CLOCK, "KVM_GET_CLOCK")
    public static let setClock = Self(CKVM_SET_CLOCK, "KVM_SET_CLOCK")
    // vCPU
    public static let run = Self(CKVM_RUN, "KVM_RUN")
    public static let getRegs = Self(CKVM_GET_REGS, "KVM_GET_REGS")
    public static let setRegs = Self(CKVM_SET_REGS, "KVM_SET_REGS")
    public static let getSregs = Self(CKVM_GET_SREGS, "KVM_GET_SREGS")
    public static let setSregs = Self(CKVM_SET_SREGS, "KVM_SET_SREGS")
    public static let getMSRs = Self(CKVM_GET_MSRS, "KVM_GET_MSRS")
    public static let setMSRs = Self(CKVM_SET_MSRS, "KVM_SET_MSRS")
    public static let setCPUID2 = Self(CKVM_SET_CPUID2, "KVM_SET_CPUID2")
    public static let getFPU = Self(CKVM_GET_FPU, "KVM_GET_FPU")
    public static let setFPU = Self(CKVM_SET_FPU, "KVM_SET_FPU")
    public static let getLAPIC = Self(CKVM_GET_LAPIC, "KVM_GET_LAPIC")
    public static let setLAPIC = Self(CKVM_SET_LAPIC, "KVM_SET_LAPIC")
    public static let getVCPUEvents = Self(CKVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS")
    public static let setVCPUEvents = Self(CKVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS")
    public static let getMPState = Self(CKVM_GET_MP_STATE, "KVM_GET_MP_STATE")
    public static let setMPState = Self(CKVM_SET_MP_STATE, "KVM_SET_MP_STATE")
    public static let getXSAVE = Self(CKVM_GET_XSAVE, "KVM_GET_XSAVE")
    public static let setXSAVE = Self(CKVM_SET_XSAVE, "KVM_SET_XSAVE")
    public static let getXCRs = Self(CKVM_GET_XCRS, "KVM_GET_XCRS")
    public static let setXCRs = Self(CKVM_SET_XCRS, "KVM_SET_XCRS")
    public static let getDebugRegs = Self(CKVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS")
    public static let setDebugRegs = Self(CKVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS")

    /// Every request above, for tests and diagnostics.
    public static let all: [IoctlRequest] = [
        getAPIVersion, createVM, checkExtension, getVCPUMmapSize, getSupportedCPUID, getMSRIndexList,
        setUserMemoryRegion, createVCPU, createIRQChip, createPIT2, setTSSAddress, setIdentityMapAddress,
        enableCap, setMSRFilter, signalMSI, irqLine, irqfd, ioeventfd, run, getRegs, setRegs, getSregs,
        setSregs, getMSRs, setMSRs, setCPUID2, getFPU, setFPU, getLAPIC, setLAPIC, getVCPUEvents,
        setVCPUEvents, getMPState, setMPState, getIRQChip, setIRQChip, getPIT2, setPIT2, getClock, setClock,
        getXSAVE, setXSAVE, getXCRs, setXCRs, getDebugRegs, setDebugRegs,
    ]
}
