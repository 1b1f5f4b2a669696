import CKVM

/// The general-purpose registers, RIP and RFLAGS (`kvm_regs`).
public struct GeneralRegisters: Sendable, Hashable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rsp: UInt64 = 0, rbp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    public var rflags: UInt64 = 0x2

    public init() {}

    init(_ r: kvm_regs) {
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx
        rsi = r.rsi; rdi = r.rdi; rsp = r.rsp; rbp = r.rbp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11
        r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip; rflags = r.rflags
    }

    var kvm: kvm_regs {
        kvm_regs(
            rax: rax, rbx: rbx, rcx: rcx, rdx: rdx, rsi: rsi, rdi: rdi, rsp: rsp, rbp: rbp,
            r8: r8, r9: r9, r10: r10, r11: r11, r12: r12, r13: r13, r14: r14, r15: r15,
            rip: rip, rflags: rflags)
    }
}

/// One segment register as KVM holds it (`kvm_segment`).
public struct SegmentRegister: Sendable, Hashable {
    public var base: UInt64 = 0
    public var limit: UInt32 = 0xffff
    public var selector: UInt16 = 0
    public var type: UInt8 = 0
    public var present: Bool = true
    public var dpl: UInt8 = 0
    public var db: Bool = false
    public var s: Bool = true
    public var l: Bool = false
    public var g: Bool = false
    public var avl: Bool = false
    public var unusable: Bool = false

    public init() {}

    public init(
        base: UInt64, limit: UInt32, selector: UInt16, type: UInt8, present: Bool = true, dpl: UInt8 = 0,
        db: Bool, s: Bool = true, l: Bool, g: Bool
    ) {
        self.base = base
        self.limit = limit
        self.selector = selector
        self.type = type
        self.present = present
        self.dpl = dpl
        self.db = db
        self.s = s
        self.l = l
        self.g = g
    }

    init(_ k: kvm_segment) {
        base = k.base; limit = k.limit; selector = k.selector; type = k.type
        present = k.present != 0; dpl = k.dpl; db = k.db != 0; s = k.s != 0; l = k.l != 0
        g = k.g != 0; avl = k.avl != 0; unusable = k.unusable != 0
    }

    var kvm: kvm_segment {
        var k = kvm_segment()
        k.base = base; k.limit = limit; k.selector = selector; k.type = type
        k.present = present ? 1 : 0; k.dpl = dpl; k.db = db ? 1 : 0; k.s = s ? 1 : 0; k.l = l ? 1 : 0
        k.g = g ? 1 : 0; k.avl = avl ? 1 : 0; k.unusable = unusable ? 1 : 0
        return k
    }
}

/// A descriptor-table register (GDTR, IDTR).
public struct DescriptorTable: Sendable, Hashable {
    public var base: UInt64
    public var limit: UInt16
    public init(base: UInt64, limit: UInt16) {
        self.base = base
        self.limit = limit
    }
}

/// Segment, control and system registers (`kvm_sregs`, without the interrupt bitmap, which is
/// kept from KVM_GET_SREGS when these are set back).
public struct SpecialRegisters: Sendable, Hashable {
    public var cs = SegmentRegister(), ds = SegmentRegister(), es = SegmentRegister()
    public var fs = SegmentRegister(), gs = SegmentRegister(), ss = SegmentRegister()
    public var tr = SegmentRegister(), ldt = SegmentRegister()
    public var gdt = DescriptorTable(base: 0, limit: 0xffff)
    public var idt = DescriptorTable(base: 0, limit: 0xffff)
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    public var efer: UInt64 = 0
    public var apicBase: UInt64 = 0

    public init() {}

    init(_ k: kvm_sregs) {
        cs = .init(k.cs); ds = .init(k.ds); es = .init(k.es); fs = .init(k.fs); gs = .init(k.gs)
        ss = .init(k.ss); tr = .init(k.tr); ldt = .init(k.ldt)
        gdt = .init(base: k.gdt.base, limit: k.gdt.limit)
        idt = .init(base: k.idt.base, limit: k.idt.limit)
        cr0 = k.cr0; cr2 = k.cr2; cr3 = k.cr3; cr4 = k.cr4; cr8 = k.cr8; efer = k.efer; apicBase = k.apic_base
    }

    func apply(to k: inout kvm_sregs) {
        k.cs = cs.kvm; k.ds = ds.kvm; k.es = es.kvm; k.fs = fs.kvm; k.gs = gs.kvm
        k.ss = ss.kvm; k.tr = tr.kvm; k.ldt = ldt.kvm
        k.gdt.base = gdt.base; k.gdt.limit = gdt.limit
        k.idt.base = idt.base; k.idt.limit = idt.limit
        k.cr0 = cr0; k.cr2 = cr2; k.cr3 = cr3; k.cr4 = cr4; k.cr8 = cr8; k.efer = efer; k.apic_base = apicBase
    }
}

/// One CPUID leaf/subleaf as KVM lists and takes them (`kvm_cpuid_entry2`).
public struct CPUIDEntry: Sendable, Hashable, CustomStringConvertible {
    public var function: UInt32
    public var index: UInt32
    /// `KVM_CPUID_FLAG_SIGNIFCANT_INDEX` (1) when `index` selects a subleaf.
    public var flags: UInt32
    public var eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32

    public static let significantIndex: UInt32 = 1

    public init(
        function: UInt32, index: UInt32 = 0, flags: UInt32 = 0, eax: UInt32, ebx: UInt32, ecx: UInt32, edx: UInt32
    ) {
        self.function = function
        self.index = index
        self.flags = flags
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    init(_ k: kvm_cpuid_entry2) {
        self.init(function: k.function, index: k.index, flags: k.flags, eax: k.eax, ebx: k.ebx, ecx: k.ecx, edx: k.edx)
    }

    var kvm: kvm_cpuid_entry2 {
        var k = kvm_cpuid_entry2()
        k.function = function; k.index = index; k.flags = flags
        k.eax = eax; k.ebx = ebx; k.ecx = ecx; k.edx = edx
        return k
    }

    public var description: String {
        func h(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
        return "CPUID(\(h(function)).\(index)) = \(h(eax)) \(h(ebx)) \(h(ecx)) \(h(edx))"
    }
}

/// A KVM capability number (`KVM_CAP_*`), open for values not named here.
public struct KVMCapability: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }
    public static let irqchip = Self(rawValue: UInt(KVM_CAP_IRQCHIP))
    public static let userMemory = Self(rawValue: UInt(KVM_CAP_USER_MEMORY))
    public static let setTSSAddress = Self(rawValue: UInt(KVM_CAP_SET_TSS_ADDR))
    public static let pit2 = Self(rawValue: UInt(KVM_CAP_PIT2))
    public static let immediateExit = Self(rawValue: UInt(KVM_CAP_IMMEDIATE_EXIT))
    public static let userSpaceMSR = Self(rawValue: UInt(KVM_CAP_X86_USER_SPACE_MSR))
    public static let msrFilter = Self(rawValue: UInt(KVM_CAP_X86_MSR_FILTER))
    public static let signalMSI = Self(rawValue: UInt(KVM_CAP_SIGNAL_MSI))
    public static let irqfd = Self(rawValue: UInt(KVM_CAP_IRQFD))
    public static let hyperV = Self(rawValue: UInt(KVM_CAP_HYPERV))
    public static let nrVCPUs = Self(rawValue: UInt(KVM_CAP_NR_VCPUS))
    public static let maxVCPUs = Self(rawValue: UInt(KVM_CAP_MAX_VCPUS))
}

/// A vCPU's multiprocessing state (`KVM_MP_STATE_*`).
public struct MPState: RawRepresentable, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let runnable = Self(rawValue: UInt32(KVM_MP_STATE_RUNNABLE))
    public static let uninitialized = Self(rawValue: UInt32(KVM_MP_STATE_UNINITIALIZED))
    public static let initReceived = Self(rawValue: UInt32(KVM_MP_STATE_INIT_RECEIVED))
    public static let halted = Self(rawValue: UInt32(KVM_MP_STATE_HALTED))
    public static let sipiReceived = Self(rawValue: UInt32(KVM_MP_STATE_SIPI_RECEIVED))
}
