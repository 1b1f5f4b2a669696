import SystemPackage

/// A failed KVM system call: the ioctl (or other call) by its kernel name, and the `Errno`.
public struct KVMError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kernel name of the call, e.g. `KVM_SET_USER_MEMORY_REGION` or `open(/dev/kvm)`.
    public let operation: String
    public let errno: Errno
    /// Extra context (which slot, which MSR), empty when there is none.
    public let detail: String

    public init(_ operation: String, _ errno: Errno, detail: String = "") {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "\(operation) failed: \(errno)" : "\(operation) failed (\(detail)): \(errno)"
    }
}
