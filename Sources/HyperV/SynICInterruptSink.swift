/// How the SynIC raises its interrupts. The VMM implements it with `KVM_SIGNAL_MSI`
/// (address 0xFEE00000 | apic_id << 12, data = vector: fixed, edge, physical); tests record.
public protocol SynICInterruptSink: Sendable {
    /// Raises `vector` on `vp`'s local APIC. Called from any thread, never with a SynIC lock held.
    func interrupt(vp: UInt32, vector: UInt8)
}
