import CKVM

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The shared `kvm_run` page of one vCPU: either the kernel's mapping of the vCPU fd or, for
/// tests, a zero-filled heap page the test fills in ("play the kernel").
///
/// ## Concurrency model
/// Not `Sendable`: used only on its vCPU's thread. The kick signal handler (C, same thread)
/// writes `immediate_exit` atomically; nothing else touches the page concurrently.
public final class KVMRunPage {
    private enum Backing { case mmap, heap }
    // SAFETY: `base` points to `size` bytes, at least MemoryLayout<kvm_run>.size, until deinit.
    let base: UnsafeMutableRawPointer
    /// Bytes in the mapping (`KVM_GET_VCPU_MMAP_SIZE`); I/O data must lie inside it.
    public let size: Int
    private let backing: Backing

    init(mapping base: UnsafeMutableRawPointer, size: Int) {
        self.base = base
        self.size = size
        self.backing = .mmap
    }

    /// A zero-filled page for decode tests. `size` is clamped up to hold a `kvm_run`.
    public static func synthetic(size: Int = 3 * 4096) -> KVMRunPage {
        KVMRunPage(heapSize: Swift.max(size, MemoryLayout<kvm_run>.size))
    }

    private init(heapSize: Int) {
        let p = UnsafeMutableRawPointer.allocate(byteCount: heapSize, alignment: 4096)
        // SAFETY: freshly allocated, heapSize bytes.
        p.initializeMemory(as: UInt8.self, repeating: 0, count: heapSize)
        self.base = p
        self.size = heapSize
        self.backing = .heap
    }

    deinit {
        switch backing {
        case .mmap: munmap(base, size)
        case .heap: base.deallocate()
        }
    }

    // SAFETY: size >= MemoryLayout<kvm_run>.size and the page is 4096-aligned (mmap or allocate).
    var runPointer: UnsafeMutablePointer<kvm_run> { base.assumingMemoryBound(to: kvm_run.self) }

    /// A copy of the `kvm_run` structure (tests edit a copy and store it back).
    public var run: kvm_run {
        get { runPointer.pointee }
        set { runPointer.pointee = newValue }
    }

    /// Writes bytes at an offset from the page start (tests: port-I/O data at `io.data_offset`).
    public func write(_ bytes: [UInt8], at offset: Int) {
        precondition(offset >= 0 && offset <= size && bytes.count <= size - offset, "outside kvm_run mapping")
        // SAFETY: bounds checked above.
        for (i, b) in bytes.enumerated() { base.storeBytes(of: b, toByteOffset: offset + i, as: UInt8.self) }
    }

    /// Reads bytes at an offset from the page start.
    public func read(at offset: Int, count: Int) -> [UInt8] {
        precondition(offset >= 0 && count >= 0 && offset <= size && count <= size - offset, "outside kvm_run mapping")
        // SAFETY: bounds checked above.
        return (0..<count).map { base.load(fromByteOffset: offset + $0, as: UInt8.self) }
    }

    /// Sets or clears `immediate_exit` (atomically: the kick handler writes it too).
    public func setImmediateExit(_ on: Bool) { ckvm_store_immediate_exit(runPointer, on ? 1 : 0) }

    /// Whether `immediate_exit` is set.
    public var immediateExit: Bool { runPointer.pointee.immediate_exit != 0 }

    /// Validated location of port-I/O data: `nil` if the kernel's offset/count lie outside the page.
    private func ioDataRange(_ io: (dataOffset: UInt64, size: Int, count: Int)) -> Int? {
        guard io.dataOffset <= UInt64(size), io.count >= 0, io.count <= size, io.size <= 8 else { return nil }
        let offset = Int(io.dataOffset)
        guard io.size * io.count <= size - offset else { return nil }
        return offset
    }

    private func loadLE(at offset: Int, size width: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<width {
            // SAFETY: callers validated offset + width <= size.
            v |= UInt64(base.load(fromByteOffset: offset + i, as: UInt8.self)) << (8 * UInt64(i))
        }
        return v
    }

    private func storeLE(_ value: UInt64, at offset: Int, size width: Int) {
        for i in 0..<width {
            // SAFETY: callers validated offset + width <= size.
            base.storeBytes(
                of: UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))), toByteOffset: offset + i, as: UInt8.self)
        }
    }

    /// Decodes the exit KVM reported. The ONE place `kvm_run`'s union is read (G10).
    public func decodeExit() -> VMExit {
        let run = runPointer.pointee
        let reason = run.exit_reason
        switch Int32(bitPattern: reason) {
        case KVM_EXIT_IO:
            // SAFETY (union): exit_reason == KVM_EXIT_IO selects `io`.
            let io = run.io
            let width = Int(io.size)
            guard width == 1 || width == 2 || width == 4 else {
                return .unknown(reason: reason, detail: "port I/O of \(width) bytes")
            }
            guard io.count >= 1, let offset = ioDataRange((io.data_offset, width, Int(io.count))) else {
                return .unknown(reason: reason, detail: "port I/O data outside the kvm_run mapping")
            }
            if io.direction == UInt8(KVM_EXIT_IO_IN) {
                return .ioIn(port: io.port, size: width, count: Int(io.count))
            }
            let values = (0..<Int(io.count)).map { loadLE(at: offset + $0 * width, size: width) }
            return .ioOut(port: io.port, size: width, values: values)
        case KVM_EXIT_MMIO:
            // SAFETY (union): exit_reason == KVM_EXIT_MMIO selects `mmio`.
            let mmio = run.mmio
            let width = Int(mmio.len)
            guard width >= 1 && width <= 8 else { return .unknown(reason: reason, detail: "MMIO of \(width) bytes") }
            if mmio.is_write != 0 {
                let bytes = withUnsafeBytes(of: mmio.data) { Array($0) }
                var v: UInt64 = 0
                for i in 0..<width { v |= UInt64(bytes[i]) << (8 * UInt64(i)) }
                return .mmioWrite(address: mmio.phys_addr, size: width, value: v)
            }
            return .mmioRead(address: mmio.phys_addr, size: width)
        case KVM_EXIT_X86_RDMSR:
            // SAFETY (union): exit_reason selects `msr`.
            return .rdmsr(index: run.msr.index, reason: MSRExitReason(rawValue: run.msr.reason))
        case KVM_EXIT_X86_WRMSR:
            return .wrmsr(index: run.msr.index, value: run.msr.data, reason: MSRExitReason(rawValue: run.msr.reason))
        case KVM_EXIT_HLT:
            return .hlt
        case KVM_EXIT_SHUTDOWN:
            return .shutdown
        case KVM_EXIT_INTR:
            return .interrupted
        case KVM_EXIT_FAIL_ENTRY:
            // SAFETY (union): exit_reason selects `fail_entry`.
            return .failEntry(reason: run.fail_entry.hardware_entry_failure_reason, cpu: run.fail_entry.cpu)
        case KVM_EXIT_INTERNAL_ERROR:
            // SAFETY (union): exit_reason selects `internal` (and its overlay `emulation_failure`).
            let internalError = run.internal
            let all = withUnsafeBytes(of: internalError.data) { Array($0.bindMemory(to: UInt64.self)) }
            let data = Array(all.prefix(Int(Swift.min(internalError.ndata, 16))))
            var bytes: [UInt8]? = nil
            // emulation_failure: data[0] = flags, then insn_size (1 byte) + insn_bytes[15].
            if internalError.suberror == UInt32(KVM_INTERNAL_ERROR_EMULATION), data.count >= 3,
                data[0] & UInt64(KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) != 0
            {
                let raw = withUnsafeBytes(of: internalError.data) { Array($0[8..<24]) }
                let count = Swift.min(Int(raw[0]), 15)
                bytes = Array(raw[1..<(1 + count)])
            }
            return .internalError(InternalError(suberror: internalError.suberror, data: data, instructionBytes: bytes))
        case KVM_EXIT_SYSTEM_EVENT:
            // SAFETY (union): exit_reason selects `system_event`.
            let event = run.system_event
            let all = withUnsafeBytes(of: event) { raw -> [UInt64] in
                // type (4) + ndata (4), then the flags/data[16] union.
                (0..<16).map { raw.loadUnaligned(fromByteOffset: 8 + 8 * $0, as: UInt64.self) }
            }
            let data = Array(all.prefix(Int(Swift.min(event.ndata, 16))))
            return .systemEvent(SystemEvent(kind: .init(rawValue: event.type), data: data))
        default:
            return .unknown(reason: reason, detail: "")
        }
    }

    /// Writes what the last exit needs back into `kvm_run` before the next `KVM_RUN`.
    public func complete(_ completion: ExitCompletion) {
        let reason = Int32(bitPattern: runPointer.pointee.exit_reason)
        switch completion {
        case .none:
            return
        case .ioIn(let values):
            guard reason == KVM_EXIT_IO else { return }
            let io = runPointer.pointee.io
            let width = Int(io.size)
            guard io.direction == UInt8(KVM_EXIT_IO_IN), width <= 8,
                let offset = ioDataRange((io.data_offset, width, Int(io.count)))
            else { return }
            for i in 0..<Int(io.count) {
                storeLE(i < values.count ? values[i] : UInt64.max, at: offset + i * width, size: width)
            }
        case .mmioRead(let value):
            guard reason == KVM_EXIT_MMIO else { return }
            var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &bytes) { b in
                for i in 0..<8 { b[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            }
            runPointer.pointee.mmio.data = bytes
        case .msrRead(let value):
            guard reason == KVM_EXIT_X86_RDMSR else { return }
            runPointer.pointee.msr.data = value ?? 0
            runPointer.pointee.msr.error = value == nil ? 1 : 0
        case .msrWrite(let accepted):
            guard reason == KVM_EXIT_X86_WRMSR else { return }
            runPointer.pointee.msr.error = accepted ? 0 : 1
        }
    }
}
