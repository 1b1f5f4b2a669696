import CKVM
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

// The one seam through which every KVM ioctl reaches libc. errno is read in the same
// non-inlined function that made the call (G4); EFAULT/EBADF on our own fds and buffers are
// programmer errors and trap.

/// Whether an errno from one of our ioctls can only mean a bug in this target.
@inline(__always)
private func isProgrammerError(_ e: Int32, _ request: IoctlRequest) -> Bool {
    // KVM_RUN reports guest-caused EFAULT (e.g. memory slot gone) as a real failure.
    (e == EBADF || e == EFAULT) && request != .run
}

@inline(never)
func systemIoctl(_ fd: Int32, _ request: IoctlRequest, value: UInt) -> Result<Int32, Errno> {
    let rc = ckvm_ioctl_val(fd, request.rawValue, value)
    if rc >= 0 { return .success(rc) }
    let e = errno
    precondition(!isProgrammerError(e, request), "\(request.name): errno \(e) on our own descriptor")
    return .failure(Errno(rawValue: e))
}

@inline(never)
func systemIoctl(_ fd: Int32, _ request: IoctlRequest, pointer: UnsafeMutableRawPointer) -> Result<Int32, Errno> {
    let rc = ckvm_ioctl_ptr(fd, request.rawValue, pointer)
    if rc >= 0 { return .success(rc) }
    let e = errno
    precondition(!isProgrammerError(e, request), "\(request.name): errno \(e) on our own buffer or descriptor")
    return .failure(Errno(rawValue: e))
}

extension Result where Failure == Errno {
    /// Wraps the errno with the ioctl's name for the library boundary.
    func named(_ request: IoctlRequest, _ detail: String = "") throws(KVMError) -> Success {
        switch self {
        case .success(let v): return v
        case .failure(let e): throw KVMError(request.name, e, detail: detail)
        }
    }
}

/// `ioctl(fd, request, value)` retried on EINTR, throwing the named error.
func kvmIoctl(_ fd: Int32, _ request: IoctlRequest, value: UInt = 0, detail: String = "") throws(KVMError) -> Int32 {
    while true {
        let r = systemIoctl(fd, request, value: value)
        if case .failure(.interrupted) = r { continue }
        return try r.named(request, detail)
    }
}

/// `ioctl(fd, request, &argument)` retried on EINTR, throwing the named error.
@discardableResult
func kvmIoctl<T>(_ fd: Int32, _ request: IoctlRequest, _ argument: inout T, detail: String = "") throws(KVMError)
    -> Int32
{
    while true {
        // SAFETY: the pointer is valid for the duration of the call, sized for T as the request encodes.
        let r = withUnsafeMutableBytes(of: &argument) { buffer -> Result<Int32, Errno> in
            guard let base = buffer.baseAddress else { return .failure(.invalidArgument) }
            return systemIoctl(fd, request, pointer: base)
        }
        if case .failure(.interrupted) = r { continue }
        return try r.named(request, detail)
    }
}

/// `ioctl(fd, request, buffer)` for variable-size arguments (flexible arrays).
@discardableResult
func kvmIoctl(_ fd: Int32, _ request: IoctlRequest, buffer: UnsafeMutableRawBufferPointer, detail: String = "")
    throws(KVMError) -> Int32
{
    guard let base = buffer.baseAddress else { throw KVMError(request.name, .invalidArgument, detail: "empty buffer") }
    while true {
        let r = systemIoctl(fd, request, pointer: base)
        if case .failure(.interrupted) = r { continue }
        return try r.named(request, detail)
    }
}

/// An owned file descriptor, closed when the owner is deinitialised.
final class OwnedDescriptor: Sendable {
    let rawValue: Int32
    init(_ rawValue: Int32) { self.rawValue = rawValue }
    deinit { _ = Glibc.close(rawValue) }
}
