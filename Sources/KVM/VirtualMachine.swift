import CKVM
import GuestMemory
import Synchronization
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A KVM virtual machine (the VM fd): memory slots, in-kernel irqchip and PIT, MSR filtering,
/// interrupt injection, and vCPU creation.
///
/// ## Concurrency model
/// `Sendable`: VM ioctls are thread-safe in the kernel (vCPU threads raise IRQ lines and send
/// MSIs while the VM runs). The memory objects whose pages are mapped into slots are retained
/// here (under a `Mutex`) so their host pages outlive the VM.
public final class VirtualMachine: Sendable {
    public let system: KVMSystem
    let fd: OwnedDescriptor
    private let mappedMemory = Mutex<[GuestMemory]>([])

    /// The conventional address of the 3-page TSS area KVM needs (below the BIOS ROM).
    public static let defaultTSSAddress: UInt64 = 0xfffb_d000
    /// The identity-map page, just below the TSS area.
    public static let defaultIdentityMapAddress: UInt64 = 0xfffb_c000

    init(system: KVMSystem, fd: OwnedDescriptor) {
        self.system = system
        self.fd = fd
    }

    /// `KVM_CHECK_EXTENSION` on the VM fd (some answers are per VM).
    public func checkExtension(_ capability: KVMCapability) throws(KVMError) -> Int {
        Int(try kvmIoctl(fd.rawValue, .checkExtension, value: capability.rawValue))
    }

    /// `KVM_SET_USER_MEMORY_REGION` for one slot.
    public func setUserMemoryRegion(
        slot: UInt32, guestAddress: UInt64, size: UInt64, hostAddress: UInt64, flags: UInt32 = 0
    )
        throws(KVMError)
    {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: flags, guest_phys_addr: guestAddress, memory_size: size, userspace_addr: hostAddress)
        try kvmIoctl(
            fd.rawValue, .setUserMemoryRegion, &region,
            detail: "slot \(slot) at 0x\(String(guestAddress, radix: 16)), \(size) bytes")
    }

    /// Maps every RAM region of `memory` into consecutive slots from `firstSlot`; keeps `memory`
    /// alive as long as this VM. Returns the next free slot.
    @discardableResult
    public func map(_ memory: GuestMemory, firstSlot: UInt32 = 0) throws(KVMError) -> UInt32 {
        var slot = firstSlot
        for mapping in memory.hostMappings {
            try setUserMemoryRegion(
                slot: slot, guestAddress: mapping.range.start.rawValue, size: mapping.range.length,
                hostAddress: mapping.hostAddress)
            slot += 1
        }
        mappedMemory.withLock { $0.append(memory) }
        return slot
    }

    /// `KVM_SET_TSS_ADDR` (needed on Intel before the first vCPU runs).
    public func setTSSAddress(_ address: UInt64 = VirtualMachine.defaultTSSAddress) throws(KVMError) {
        _ = try kvmIoctl(fd.rawValue, .setTSSAddress, value: UInt(address))
    }

    /// `KVM_SET_IDENTITY_MAP_ADDR` (before creating vCPUs).
    public func setIdentityMapAddress(_ address: UInt64 = VirtualMachine.defaultIdentityMapAddress) throws(KVMError) {
        var a = address
        try kvmIoctl(fd.rawValue, .setIdentityMapAddress, &a)
    }

    /// `KVM_CREATE_IRQCHIP`: in-kernel PIC, IOAPIC and LAPICs (before creating vCPUs).
    public func createIRQChip() throws(KVMError) {
        _ = try kvmIoctl(fd.rawValue, .createIRQChip)
    }

    /// `KVM_CREATE_PIT2` with a dummy speaker port (needs the irqchip first).
    public func createPIT2() throws(KVMError) {
        var config = kvm_pit_config()
        config.flags = UInt32(KVM_PIT_SPEAKER_DUMMY)
        try kvmIoctl(fd.rawValue, .createPIT2, &config)
    }

    /// `KVM_ENABLE_CAP` on the VM.
    public func enableCapability(_ capability: KVMCapability, arguments: [UInt64] = []) throws(KVMError) {
        var cap = kvm_enable_cap()
        cap.cap = UInt32(capability.rawValue)
        withUnsafeMutableBytes(of: &cap.args) { raw in
            for (i, a) in arguments.prefix(4).enumerated() {
                raw.storeBytes(of: a, toByteOffset: i * 8, as: UInt64.self)
            }
        }
        try kvmIoctl(fd.rawValue, .enableCap, &cap, detail: "capability \(capability.rawValue)")
    }

    /// Sends MSR accesses with the given reasons to user space (`KVM_CAP_X86_USER_SPACE_MSR`).
    public func enableUserSpaceMSRExits(_ reasons: MSRExitReason = [.filter]) throws(KVMError) {
        try enableCapability(.userSpaceMSR, arguments: [UInt64(reasons.rawValue)])
    }

    /// `KVM_X86_SET_MSR_FILTER`: default allow, and deny (for reads and writes) every MSR in
    /// `denied`, so the guest's accesses there exit to user space (with user-space MSR exits
    /// enabled for `.filter`). At most 16 ranges of at most 0x10000 MSRs each.
    public func setMSRFilter(denying denied: [ClosedRange<UInt32>]) throws(KVMError) {
        guard denied.count <= Int(KVM_MSR_FILTER_MAX_RANGES),
            denied.allSatisfy({ $0.count <= 0x10000 })
        else { throw KVMError("KVM_X86_SET_MSR_FILTER", .invalidArgument, detail: "too many or too large ranges") }
        // One zeroed bitmap per range (0 bits deny), alive across the ioctl.
        let bitmaps = denied.map { range -> UnsafeMutableRawBufferPointer in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: (range.count + 7) / 8, alignment: 8)
            b.initializeMemory(as: UInt8.self, repeating: 0)
            return b
        }
        defer { bitmaps.forEach { $0.deallocate() } }
        var filter = kvm_msr_filter()
        filter.flags = UInt32(KVM_MSR_FILTER_DEFAULT_ALLOW)
        withUnsafeMutableBytes(of: &filter.ranges) { raw in
            let stride = MemoryLayout<kvm_msr_filter_range>.stride
            for (i, range) in denied.enumerated() {
                var r = kvm_msr_filter_range()
                r.flags = UInt32(KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE)
                r.nmsrs = UInt32(range.count)
                r.base = range.lowerBound
                // SAFETY: the bitmap outlives the ioctl (deallocated by the defer above).
                r.bitmap = bitmaps[i].baseAddress?.assumingMemoryBound(to: UInt8.self)
                raw.storeBytes(of: r, toByteOffset: i * stride, as: kvm_msr_filter_range.self)
            }
        }
        try kvmIoctl(fd.rawValue, .setMSRFilter, &filter)
    }

    /// `KVM_IRQ_LINE`: sets the level of a GSI (IOAPIC pin; GSIs 0-15 also reach the PIC).
    public func setIRQLine(gsi: UInt32, level: Bool) throws(KVMError) {
        var line = kvm_irq_level()
        line.irq = gsi
        line.level = level ? 1 : 0
        try kvmIoctl(fd.rawValue, .irqLine, &line, detail: "GSI \(gsi)")
    }

    /// `KVM_SIGNAL_MSI`. Returns false when the message was blocked (no LAPIC accepted it).
    @discardableResult
    public func signalMSI(address: UInt64, data: UInt32) throws(KVMError) -> Bool {
        var msi = kvm_msi()
        msi.address_lo = UInt32(truncatingIfNeeded: address)
        msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        msi.data = data
        return try kvmIoctl(fd.rawValue, .signalMSI, &msi) > 0
    }

    /// `KVM_IRQFD`: signalling `eventFD` raises `gsi` (edge), with no exit to user space.
    public func registerIRQFD(eventFD: Int32, gsi: UInt32) throws(KVMError) {
        var irqfd = kvm_irqfd()
        irqfd.fd = UInt32(bitPattern: eventFD)
        irqfd.gsi = gsi
        try kvmIoctl(fd.rawValue, .irqfd, &irqfd, detail: "GSI \(gsi)")
    }

    /// `KVM_IRQFD` with `KVM_IRQFD_FLAG_DEASSIGN`.
    public func unregisterIRQFD(eventFD: Int32, gsi: UInt32) throws(KVMError) {
        var irqfd = kvm_irqfd()
        irqfd.fd = UInt32(bitPattern: eventFD)
        irqfd.gsi = gsi
        irqfd.flags = UInt32(KVM_IRQFD_FLAG_DEASSIGN)
        try kvmIoctl(fd.rawValue, .irqfd, &irqfd, detail: "GSI \(gsi)")
    }

    /// `KVM_CREATE_VCPU` and the `kvm_run` mapping. Call it on the thread that will run the
    /// vCPU (KVM's rule); the returned `VCPU` refuses use from any other thread.
    public func createVCPU(id: Int) throws(KVMError) -> VCPU {
        let raw = try kvmIoctl(fd.rawValue, .createVCPU, value: UInt(id), detail: "vCPU \(id)")
        let owned = OwnedDescriptor(raw)
        let size = system.vcpuMmapSize
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, raw, 0)
        guard let p, p != MAP_FAILED else {
            throw KVMError("mmap(kvm_run)", Errno(rawValue: errno), detail: "vCPU \(id)")
        }
        return VCPU(id: id, vm: self, fd: owned, page: KVMRunPage(mapping: p, size: size))
    }
}
