import Boot
import GuestMemory

/// The tiny guest the hypercall bench runs, pre-assembled (source below, `as --64` + `objcopy`)
/// so the bench needs no binutils. It enables the Hyper-V hypercall page through the synthetic
/// MSRs (the worker's real MSR path writes the page), then calls a 7-byte stub N times:
///
/// ```
///         mov  $0x40000000, %ecx ; mov $0x81000000, %edx ; mov $1, %eax ; wrmsr   # GUEST_OS_ID
///         mov  $0x40000001, %ecx ; xor %edx, %edx ; mov $0x20001, %eax ; wrmsr    # HYPERCALL: page 0x20000, enable
///         mov  0x8000, %r9                  # N
///         mov  0x8010, %rbx                 # the stub this variant calls
///         out  %al, $0xe0                   # start mark (host timestamps it)
///  1:     mov  $1, %eax                     # RAX differs from the result, as in a real guest,
///                                           # so the worker writes it back (KVM_SET_REGS)
///         mov  $0x1005d, %ecx               # HvSignalEvent, fast
///         mov  $0x2001, %edx                # connection id 0x2001, flag 0
///         xor  %r8d, %r8d
///         call *%rbx
///         dec  %r9
///         jnz  1b
///         mov  %rax, 0x8008                 # last result (hypercall status)
///         out  %al, $0xe1                   # end mark
///         out  %al, $0xe6                   # power off
///  2:     hlt ; jmp 2b
/// ```
/// The stubs differ only in their middle instruction, so the loops run the same instructions
/// apart from the trap: the hypercall page (`endbr64; out %al,$0xEB; ret`, written by the
/// partition), a port write to a register-aware hook that bumps RAX (`out %al,$0xE4`) or only
/// reads the registers (`out %al,$0xE5`), a plain
/// port write to a bus device (`out %al,$0xE2`), and no exit (`nop; nop`).
enum GuestProgram {
    static let code: [UInt8] = [
        0xb9, 0x00, 0x00, 0x00, 0x40, 0xba, 0x00, 0x00, 0x00, 0x81, 0xb8, 0x01,
        0x00, 0x00, 0x00, 0x0f, 0x30, 0xb9, 0x01, 0x00, 0x00, 0x40, 0x31, 0xd2,
        0xb8, 0x01, 0x00, 0x02, 0x00, 0x0f, 0x30, 0x4c, 0x8b, 0x0c, 0x25, 0x00,
        0x80, 0x00, 0x00, 0x48, 0x8b, 0x1c, 0x25, 0x10, 0x80, 0x00, 0x00, 0xe6,
        0xe0, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xb9, 0x5d, 0x00, 0x01, 0x00, 0xba,
        0x01, 0x20, 0x00, 0x00, 0x45, 0x31, 0xc0, 0xff, 0xd3, 0x49, 0xff, 0xc9,
        0x75, 0xe7, 0x48, 0x89, 0x04, 0x25, 0x08, 0x80, 0x00, 0x00, 0xe6, 0xe1,
        0xe6, 0xe6, 0xf4, 0xeb, 0xfd,
    ]
    static let pioStub: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa, 0xe6, 0xe2, 0xc3]
    static let nopStub: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa, 0x90, 0x90, 0xc3]
    /// `endbr64; out %al,$0xE4; ret`: a register-aware port hook that changes RAX, i.e. the
    /// hypercall's register traffic (KVM_GET_REGS + KVM_SET_REGS) without the dispatcher.
    static let hookStub: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa, 0xe6, 0xe4, 0xc3]
    /// `endbr64; out %al,$0xE5; ret`: a register-aware hook that changes nothing (KVM_GET_REGS only).
    static let readHookStub: [UInt8] = [0xf3, 0x0f, 0x1e, 0xfa, 0xe6, 0xe5, 0xc3]

    static let codeAddress: UInt64 = 0x10000
    static let hypercallPage: UInt64 = 0x20000
    static let pioStubAddress: UInt64 = 0x21000
    static let nopStubAddress: UInt64 = 0x22000
    static let hookStubAddress: UInt64 = 0x23000
    static let readHookStubAddress: UInt64 = 0x24000
    static let iterationsAddress: UInt64 = 0x8000
    static let resultAddress: UInt64 = 0x8008
    static let stubPointerAddress: UInt64 = 0x8010
    static let memorySize: UInt64 = 2 << 20

    /// RAM with the program, both stubs, `iterations` and the stub to call; a GDT at 0x500 and
    /// page tables at 0x1000 identity-mapping the first GiB with 2 MiB pages; stack top 0x9000.
    static func memory(iterations: UInt64, stub: UInt64) throws -> GuestMemory {
        guard let range = GuestAddressRange(start: GuestPhysicalAddress(0), length: memorySize) else {
            throw BenchError("bad guest RAM range")
        }
        let m = try GuestMemory.anonymous(regions: [range])
        try m.write(code, at: GuestPhysicalAddress(codeAddress))
        try m.write(pioStub, at: GuestPhysicalAddress(pioStubAddress))
        try m.write(nopStub, at: GuestPhysicalAddress(nopStubAddress))
        try m.write(hookStub, at: GuestPhysicalAddress(hookStubAddress))
        try m.write(readHookStub, at: GuestPhysicalAddress(readHookStubAddress))
        try m.store(iterations, at: GuestPhysicalAddress(iterationsAddress))
        try m.store(stub, at: GuestPhysicalAddress(stubPointerAddress))
        // GDT: null, 64-bit code (0x08), data (0x10).
        try m.store(UInt64(0), at: GuestPhysicalAddress(0x500))
        try m.store(UInt64(0x00af_9b00_0000_ffff), at: GuestPhysicalAddress(0x508))
        try m.store(UInt64(0x00cf_9300_0000_ffff), at: GuestPhysicalAddress(0x510))
        try m.store(UInt64(0x2003), at: GuestPhysicalAddress(0x1000))  // PML4[0] -> PDPT
        try m.store(UInt64(0x3003), at: GuestPhysicalAddress(0x2000))  // PDPT[0] -> PD
        for i in 0..<UInt64(512) { try m.store((i << 21) | 0x83, at: GuestPhysicalAddress(0x3000 + i * 8)) }
        return m
    }

    static var longModeState: InitialCPUState {
        InitialCPUState(
            rip: codeAddress, rsp: 0x9000, rsi: 0,
            cr0: 0x8001_0033, cr3: 0x1000, cr4: 0x620, efer: 0x500,
            gdtBase: 0x500, gdtLimit: 23,
            code: .init(base: 0, limit: 0xfffff, selector: 0x08, type: 0xb, l: true, db: false),
            data: .init(base: 0, limit: 0xfffff, selector: 0x10, type: 0x3, l: false, db: true))
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
