/// One CPUID leaf as the VMM hands it to KVM (`kvm_cpuid_entry2` minus the flags): this target
/// has no KVM dependency, so the VMM converts.
public struct CPUIDLeaf: Hashable, Sendable, CustomStringConvertible {
    /// The leaf (EAX on input).
    public var function: UInt32
    /// The sub-leaf (ECX on input); 0 for leaves without sub-leaves.
    public var index: UInt32
    public var eax: UInt32
    public var ebx: UInt32
    public var ecx: UInt32
    public var edx: UInt32

    public init(function: UInt32, index: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
        self.function = function
        self.index = index
        self.eax = eax
        self.ebx = ebx
        self.ecx = ecx
        self.edx = edx
    }

    public var description: String {
        func hex(_ v: UInt32) -> String { "0x" + String(v, radix: 16) }
        return "CPUID \(hex(function)).\(index): eax=\(hex(eax)) ebx=\(hex(ebx)) ecx=\(hex(ecx)) edx=\(hex(edx))"
    }
}
