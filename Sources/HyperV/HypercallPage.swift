/// The hypercall page and its port-I/O trap (guest-requirements doc §5.5).
///
/// KVM here has no Hyper-V support, so `vmcall` would reach KVM's own hypercall handler. Instead
/// the page the guest enables through HV_X64_MSR_HYPERCALL holds:
/// ```
///  +0  f3 0f 1e fa   endbr64        ; an IBT kernel checks the page starts with endbr
///  +4  e6 EB         out 0xEB, al   ; port-I/O exit: the VMM calls handleHypercall(rcx:rdx:r8:vp:)
///  +6  c3            ret
/// ```
/// `out imm8, al` reads AL and writes nothing, so RCX, RDX and R8 (control, input GPA or fast
/// input 1, output GPA or fast input 2) reach the VMM untouched. The VMM sets only RAX (the
/// result) and re-enters: KVM completes the OUT by skipping it because RIP was not changed.
public enum HypercallPage {
    /// The trap port. No platform device uses it (PIC 0x20/0xA0, PIT 0x40-0x43/0x61, i8042
    /// 0x60/0x64, RTC 0x70, POST/io_delay 0x80 and 0xED, debugcon 0xE9 are all elsewhere).
    public static let trapPort: UInt8 = 0xEB
    /// Offset of the OUT instruction in the page: at the port exit RIP's low 12 bits equal this,
    /// which lets the VMM tell a hypercall from a stray write to the port.
    public static let trapInstructionOffset: UInt64 = 4
    /// The code written at the start of the page on every enable.
    public static let code: [UInt8] = [0xF3, 0x0F, 0x1E, 0xFA, 0xE6, trapPort, 0xC3]

    /// Offset just past the OUT (the `ret`).
    public static let afterTrapInstructionOffset: UInt64 = trapInstructionOffset + 2

    /// True when a port exit is the hypercall trap: a 1-byte OUT to `trapPort` from the OUT in
    /// the page. `rip` is the guest RIP at the exit: on hardware virtualization it still points
    /// at the OUT; KVM-PVM's instruction emulator has already moved it past (measured: page
    /// offset 6), so both offsets are accepted.
    public static func isTrap(port: UInt16, isWrite: Bool, size: Int, rip: UInt64) -> Bool {
        let offset = rip & 0xFFF
        return port == UInt16(trapPort) && isWrite && size == 1
            && (offset == trapInstructionOffset || offset == afterTrapInstructionOffset)
    }
}
