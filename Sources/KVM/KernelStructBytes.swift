import CKVM

// Saved state keeps KVM's ABI structures (kvm_sregs, kvm_lapic_state, kvm_pit_state2, ...) as
// their exact bytes: the kernel defines their layout, and it is stable ABI. Restoring checks
// the byte count against the structure size before anything reaches an ioctl.

/// The bytes of a kernel ABI structure.
func structBytes<T>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value) { Array($0) }
}

/// Overwrites `value` with `bytes`, which must be exactly `MemoryLayout<T>.size` long.
/// - Throws: `KVMError(.invalidArgument)` naming `what` when the size differs.
func loadStruct<T>(_ value: inout T, from bytes: [UInt8], _ what: String) throws(KVMError) {
    guard bytes.count == MemoryLayout<T>.size else {
        throw KVMError(
            what, .invalidArgument,
            detail: "saved state holds \(bytes.count) bytes, the kernel structure has \(MemoryLayout<T>.size)")
    }
    withUnsafeMutableBytes(of: &value) { raw in
        raw.copyBytes(from: bytes)
    }
}
