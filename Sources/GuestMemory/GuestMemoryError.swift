/// Why a guest memory access or layout was refused.
public enum GuestMemoryError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The access `[address, address+count)` is not wholly inside one RAM region.
    case outOfBounds(address: GuestPhysicalAddress, count: UInt64)
    /// Two regions given to a layout overlap.
    case overlappingRegions(GuestAddressRange, GuestAddressRange)
    /// A region is not 4 KiB aligned in start or size (KVM memory slots require it).
    case misalignedRegion(GuestAddressRange)
    /// The host could not provide the memory (`mmap` failed with this errno).
    case allocationFailed(size: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case .outOfBounds(let a, let n): "guest access of \(n) bytes at \(a) is outside guest RAM"
        case .overlappingRegions(let a, let b): "guest memory regions \(a) and \(b) overlap"
        case .misalignedRegion(let r): "guest memory region \(r) is not 4 KiB aligned"
        case .allocationFailed(let size, let e): "could not allocate \(size) bytes of guest RAM (errno \(e))"
        }
    }
}
