import CKVM
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// An open `/dev/kvm`: system-wide queries and VM creation.
///
/// ## Concurrency model
/// Immutable after `open`; system ioctls are thread-safe in the kernel.
public final class KVMSystem: Sendable {
    let fd: OwnedDescriptor
    /// `KVM_GET_VCPU_MMAP_SIZE`, read once.
    public let vcpuMmapSize: Int

    private init(fd: OwnedDescriptor, vcpuMmapSize: Int) {
        self.fd = fd
        self.vcpuMmapSize = vcpuMmapSize
    }

    /// Opens the KVM device and checks the API version is 12.
    /// - Throws: `KVMError` naming `open(path)` or the failing ioctl.
    public static func open(path: String = "/dev/kvm") throws(KVMError) -> KVMSystem {
        let raw = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard raw >= 0 else { throw KVMError("open(\(path))", Errno(rawValue: errno)) }
        let owned = OwnedDescriptor(raw)
        let version = try kvmIoctl(raw, .getAPIVersion)
        guard version == KVM_API_VERSION else {
            throw KVMError(
                "KVM_GET_API_VERSION", .notSupported, detail: "API version \(version), need \(KVM_API_VERSION)")
        }
        let size = try kvmIoctl(raw, .getVCPUMmapSize)
        guard Int(size) >= MemoryLayout<kvm_run>.size else {
            throw KVMError("KVM_GET_VCPU_MMAP_SIZE", .invalidArgument, detail: "\(size) bytes")
        }
        return KVMSystem(fd: owned, vcpuMmapSize: Int(size))
    }

    /// `KVM_GET_API_VERSION` (12 on every kernel since 2.6.22).
    public func apiVersion() throws(KVMError) -> Int { Int(try kvmIoctl(fd.rawValue, .getAPIVersion)) }

    /// `KVM_CHECK_EXTENSION` on the system fd: 0 when absent, else a capability-specific value.
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int {
        Int(try kvmIoctl(fd.rawValue, .checkExtension, value: capability.rawValue))
    }

    /// `KVM_GET_SUPPORTED_CPUID`: every leaf KVM can present to a guest.
    public func supportedCPUID() throws(KVMError) -> [CPUIDEntry] {
        var capacity = 128
        while true {
            let entrySize = MemoryLayout<kvm_cpuid_entry2>.stride
            let bytes = MemoryLayout<kvm_cpuid2>.size + capacity * entrySize
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 8)
            defer { buffer.deallocate() }
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            // SAFETY: the header lies at the start of a buffer of `bytes` bytes.
            buffer.storeBytes(of: UInt32(capacity), toByteOffset: 0, as: UInt32.self)
            do {
                try kvmIoctl(fd.rawValue, .getSupportedCPUID, buffer: buffer)
            } catch {
                // E2BIG: more entries than we offered room for.
                if error.errno == Errno(rawValue: E2BIG) && capacity < 4096 {
                    capacity *= 4
                    continue
                }
                throw error
            }
            let count = Swift.min(Int(buffer.load(fromByteOffset: 0, as: UInt32.self)), capacity)
            let header = MemoryLayout<kvm_cpuid2>.size
            // SAFETY: the kernel filled `count` <= capacity entries after the header.
            return (0..<count).map {
                CPUIDEntry(buffer.loadUnaligned(fromByteOffset: header + $0 * entrySize, as: kvm_cpuid_entry2.self))
            }
        }
    }

    /// `KVM_GET_MSR_INDEX_LIST`: the MSRs KVM saves and restores.
    public func msrIndexList() throws(KVMError) -> [UInt32] {
        var capacity = 256
        while true {
            let bytes = 4 + capacity * 4
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 4)
            defer { buffer.deallocate() }
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            buffer.storeBytes(of: UInt32(capacity), toByteOffset: 0, as: UInt32.self)
            do {
                try kvmIoctl(fd.rawValue, .getMSRIndexList, buffer: buffer)
            } catch {
                if error.errno == Errno(rawValue: E2BIG) && capacity < 16384 {
                    capacity *= 4
                    continue
                }
                throw error
            }
            let count = Swift.min(Int(buffer.load(fromByteOffset: 0, as: UInt32.self)), capacity)
            // SAFETY: `count` <= capacity indices follow the 4-byte count.
            return (0..<count).map { buffer.load(fromByteOffset: 4 + $0 * 4, as: UInt32.self) }
        }
    }

    /// `KVM_CREATE_VM` (default machine type).
    public func createVM() throws(KVMError) -> VirtualMachine {
        let raw = try kvmIoctl(fd.rawValue, .createVM, value: 0)
        return VirtualMachine(system: self, fd: OwnedDescriptor(raw))
    }
}

/// Whether KVM can be used here: `/dev/kvm` opens read-write and `KVM_CREATE_VM` succeeds.
/// Live tests gate on `isUsable` and print `reason` when it is false.
public enum KVMAvailability {
    private static let probe: Result<Void, KVMError> = {
        do throws(KVMError) {
            let system = try KVMSystem.open()
            _ = try system.createVM()
            return .success(())
        } catch {
            return .failure(error)
        }
    }()

    /// True when a VM can be created on this machine.
    public static var isUsable: Bool {
        if case .success = probe { return true }
        return false
    }

    /// Why KVM is not usable (empty when it is).
    public static var reason: String {
        if case .failure(let e) = probe { return "KVM not usable: \(e)" }
        return ""
    }
}
