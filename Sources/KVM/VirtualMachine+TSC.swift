extension IoctlRequest {
    /// `KVM_GET_TSC_KHZ` = `_IO(KVMIO, 0xa3)`: no payload, so the encoding needs no C layout.
    static let getTSCKHz = Self(encode(direction: 0, type: 0xAE, number: 0xA3, size: 0), "KVM_GET_TSC_KHZ")
}

extension VirtualMachine {
    /// The guest TSC frequency in kHz (`KVM_GET_TSC_KHZ` on the VM, Linux 5.16+), which the
    /// Hyper-V frequency MSRs report so the guest need not calibrate against the PIT.
    public func tscKHz() throws(KVMError) -> UInt32 {
        UInt32(truncatingIfNeeded: try kvmIoctl(fd.rawValue, .getTSCKHz))
    }
}
