import CKVM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The guest's RAM: one or more non-overlapping regions of host memory, each mapped at a guest
/// physical address. Every access is bounds-checked against a single region and copies bytes
/// (guest-controlled structures are copied out once, then validated: no double fetch).
///
/// Two backings: `anonymous` (`mmap`, what a VM uses: KVM maps the same host pages) and
/// `heapBacked` (tests: devices and protocols run against it without KVM).
///
/// ## Concurrency model
/// `@unchecked Sendable`: the bytes are shared with the guest's vCPUs, which write them at any
/// time regardless of host locks, so host code never keeps references into them; every accessor
/// copies, and shared indices go through the atomic accessors. The region table is immutable.
public final class GuestMemory: @unchecked Sendable {
    /// A host mapping of one RAM region, as KVM's `kvm_userspace_memory_region` wants it.
    public struct HostMapping: Sendable, Hashable {
        public let range: GuestAddressRange
        /// The host virtual address of the region's first byte.
        public let hostAddress: UInt64
    }

    private struct Region {
        let range: GuestAddressRange
        // SAFETY: points to `range.length` bytes owned by this object until deinit.
        let base: UnsafeMutableRawPointer
    }

    enum Backing { case mmap, heap }

    private let regions: [Region]
    let backing: Backing

    /// The RAM regions, in ascending address order.
    public var ranges: [GuestAddressRange] { regions.map(\.range) }

    /// Total bytes of RAM.
    public var totalSize: UInt64 { regions.reduce(0) { $0 + $1.range.length } }

    /// Host mappings for KVM memory slots.
    public var hostMappings: [HostMapping] {
        regions.map { HostMapping(range: $0.range, hostAddress: UInt64(UInt(bitPattern: $0.base))) }
    }

    private init(regions: [Region], backing: Backing) {
        self.regions = regions
        self.backing = backing
    }

    deinit {
        for region in regions {
            switch backing {
            case .mmap: munmap(region.base, Int(region.range.length))
            case .heap: region.base.deallocate()
            }
        }
    }

    private static func validate(_ ranges: [GuestAddressRange], requirePageAlignment: Bool) throws(GuestMemoryError)
        -> [GuestAddressRange]
    {
        let sorted = ranges.sorted { $0.start < $1.start }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.overlaps(b) {
            throw .overlappingRegions(a, b)
        }
        if requirePageAlignment {
            for r in sorted where r.start.rawValue % 4096 != 0 || r.length % 4096 != 0 {
                throw .misalignedRegion(r)
            }
        }
        return sorted
    }

    /// RAM backed by anonymous private `mmap` (zero-filled, lazily committed by the host).
    public static func anonymous(regions ranges: [GuestAddressRange]) throws(GuestMemoryError) -> GuestMemory {
        let sorted = try validate(ranges, requirePageAlignment: true)
        var regions: [Region] = []
        for range in sorted {
            guard range.length <= UInt64(Int.max) else { throw .allocationFailed(size: range.length, errno: ENOMEM) }
            let p = mmap(nil, Int(range.length), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
            guard let p, p != MAP_FAILED else {
                let e = errno
                for r in regions { munmap(r.base, Int(r.range.length)) }
                throw .allocationFailed(size: range.length, errno: e)
            }
            regions.append(Region(range: range, base: p))
        }
        return GuestMemory(regions: regions, backing: .mmap)
    }

    /// RAM on the heap, zero-filled: for tests of devices and protocols without KVM.
    public static func heapBacked(regions ranges: [GuestAddressRange]) throws(GuestMemoryError) -> GuestMemory {
        let sorted = try validate(ranges, requirePageAlignment: false)
        let regions = sorted.map { range in
            let p = UnsafeMutableRawPointer.allocate(byteCount: Int(range.length), alignment: 4096)
            p.initializeMemory(as: UInt8.self, repeating: 0, count: Int(range.length))
            return Region(range: range, base: p)
        }
        return GuestMemory(regions: regions, backing: .heap)
    }

    /// Convenience for tests: one zero-filled region of `size` bytes at guest address 0.
    public static func heapBacked(size: UInt64) -> GuestMemory {
        // A non-empty size cannot fail validation; a zero size is a programming error in a test.
        guard let range = GuestAddressRange(start: GuestPhysicalAddress(0), length: size),
            let memory = try? heapBacked(regions: [range])
        else { preconditionFailure("heapBacked(size:) needs a non-zero size") }
        return memory
    }

    /// Host pointer for `[address, address+count)` if it lies wholly inside one region.
    private func pointer(_ address: GuestPhysicalAddress, _ count: UInt64) throws(GuestMemoryError)
        -> UnsafeMutableRawPointer
    {
        // Regions are few (1-3); a linear scan beats a search here.
        for region in regions where region.range.contains(address, count: count) {
            // SAFETY: the offset plus count is inside the region, checked by contains(_:count:).
            return region.base + Int(address.rawValue - region.range.start.rawValue)
        }
        throw .outOfBounds(address: address, count: count)
    }

    /// True when `count` bytes at `address` are RAM.
    public func isValid(_ address: GuestPhysicalAddress, count: UInt64) -> Bool {
        (try? pointer(address, count)) != nil
    }

    // MARK: Bytes

    /// Copies `count` bytes out of guest RAM.
    public func read(at address: GuestPhysicalAddress, count: Int) throws(GuestMemoryError) -> [UInt8] {
        guard count >= 0 else { throw .outOfBounds(address: address, count: 0) }
        let p = try pointer(address, UInt64(count))
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            // SAFETY: `p` has `count` readable bytes; buffer has capacity `count`.
            if count > 0, let dst = buffer.baseAddress { dst.update(from: p.assumingMemoryBound(to: UInt8.self), count: count) }
            initialized = count
        }
    }

    /// Copies `bytes` into guest RAM.
    public func write(_ bytes: some Collection<UInt8>, at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        let count = bytes.count
        let p = try pointer(address, UInt64(count))
        // Contiguous collections (arrays, slices) are copied with one memcpy; the generic path
        // below is not specialized across modules and would copy byte by byte (measured by
        // bench/vmbus: 40 ns per byte).
        let copied: Bool? = bytes.withContiguousStorageIfAvailable { source in
            // SAFETY: `p` has `count` writable bytes; `source` has `count` readable bytes.
            if let base = source.baseAddress { p.copyMemory(from: base, byteCount: count) }
            return true
        }
        if copied == nil {
            // SAFETY: `p` has `count` writable bytes.
            let dst = UnsafeMutableRawBufferPointer(start: p, count: count)
            _ = dst.initializeMemory(as: UInt8.self, from: bytes)
        }
    }

    /// Copies `bytes` into guest RAM (one memcpy).
    public func write(_ bytes: [UInt8], at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        try write(bytes[...], at: address)
    }

    /// Copies `bytes` into guest RAM (one memcpy).
    public func write(_ bytes: ArraySlice<UInt8>, at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        let count = bytes.count
        let p = try pointer(address, UInt64(count))
        bytes.withUnsafeBytes { source in
            // SAFETY: `p` has `count` writable bytes; `source` has `count` readable bytes.
            if let base = source.baseAddress { p.copyMemory(from: base, byteCount: count) }
        }
    }

    /// Fills `count` bytes of guest RAM with `value`.
    public func fill(at address: GuestPhysicalAddress, count: Int, with value: UInt8 = 0) throws(GuestMemoryError) {
        guard count >= 0 else { throw .outOfBounds(address: address, count: 0) }
        let p = try pointer(address, UInt64(count))
        // SAFETY: `p` has `count` writable bytes.
        memset(p, Int32(value), count)
    }

    // MARK: Little-endian integers

    /// Loads a little-endian integer (no alignment required).
    public func load<T: FixedWidthInteger>(_: T.Type = T.self, at address: GuestPhysicalAddress) throws(GuestMemoryError) -> T {
        let p = try pointer(address, UInt64(MemoryLayout<T>.size))
        // SAFETY: `p` has size-of-T readable bytes; loadUnaligned tolerates any alignment.
        return T(littleEndian: p.loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer (no alignment required).
    public func store<T: FixedWidthInteger>(_ value: T, at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        let p = try pointer(address, UInt64(MemoryLayout<T>.size))
        // SAFETY: `p` has size-of-T writable bytes; storeBytes(toByteOffset:) tolerates any alignment.
        p.storeBytes(of: value.littleEndian, as: T.self)
    }

    // MARK: Atomics (indices and flags shared with running vCPUs)

    private func alignedPointer(_ address: GuestPhysicalAddress, _ size: UInt64) throws(GuestMemoryError)
        -> UnsafeMutableRawPointer
    {
        guard address.rawValue % size == 0 else { throw .outOfBounds(address: address, count: size) }
        return try pointer(address, size)
    }

    /// Acquire-load of a naturally aligned 32-bit value.
    public func atomicLoad32(at address: GuestPhysicalAddress) throws(GuestMemoryError) -> UInt32 {
        UInt32(littleEndian: ckvm_atomic_load_u32(try alignedPointer(address, 4)))
    }

    /// Release-store of a naturally aligned 32-bit value.
    public func atomicStore32(_ value: UInt32, at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        ckvm_atomic_store_u32(try alignedPointer(address, 4), value.littleEndian)
    }

    /// Acquire-load of a naturally aligned 64-bit value.
    public func atomicLoad64(at address: GuestPhysicalAddress) throws(GuestMemoryError) -> UInt64 {
        UInt64(littleEndian: ckvm_atomic_load_u64(try alignedPointer(address, 8)))
    }

    /// Release-store of a naturally aligned 64-bit value.
    public func atomicStore64(_ value: UInt64, at address: GuestPhysicalAddress) throws(GuestMemoryError) {
        ckvm_atomic_store_u64(try alignedPointer(address, 8), value.littleEndian)
    }

    /// Atomically ORs `bits` into a 64-bit value; returns the previous value.
    @discardableResult
    public func atomicFetchOr64(_ bits: UInt64, at address: GuestPhysicalAddress) throws(GuestMemoryError) -> UInt64 {
        UInt64(littleEndian: ckvm_atomic_fetch_or_u64(try alignedPointer(address, 8), bits.littleEndian))
    }

    /// Atomically ANDs `bits` into a 64-bit value; returns the previous value.
    @discardableResult
    public func atomicFetchAnd64(_ bits: UInt64, at address: GuestPhysicalAddress) throws(GuestMemoryError) -> UInt64 {
        UInt64(littleEndian: ckvm_atomic_fetch_and_u64(try alignedPointer(address, 8), bits.littleEndian))
    }

    /// Compare-and-swap of a 32-bit value; returns the value found (equal to `expected` on success).
    public func compareExchange32(expected: UInt32, desired: UInt32, at address: GuestPhysicalAddress)
        throws(GuestMemoryError) -> UInt32
    {
        UInt32(
            littleEndian: ckvm_atomic_cmpxchg_u32(
                try alignedPointer(address, 4), expected.littleEndian, desired.littleEndian))
    }

    /// A full memory fence (host side of the ring-buffer protocols).
    public static func fence() { ckvm_memory_fence() }
}
