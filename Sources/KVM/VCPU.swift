import CKVM
import SystemPackage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// One virtual CPU: the vCPU fd and its `kvm_run` page.
///
/// ## Concurrency model
/// Not `Sendable`, and bound to the thread that created it: KVM wants every vCPU ioctl from
/// the creating thread, so each method `precondition`s `pthread_equal(owner, pthread_self())`
/// (NIOLoopBound's rule). Other threads reach a vCPU only through a kick (`VCPUKick`), which
/// the signal handler turns into `immediate_exit` on this thread's page.
public final class VCPU {
    /// The vCPU id (= initial APIC id).
    public let id: Int
    /// The VM this vCPU belongs to (kept alive by the vCPU).
    public let vm: VirtualMachine
    let fd: OwnedDescriptor
    /// The shared `kvm_run` page.
    public let page: KVMRunPage
    private let owner: pthread_t
    private var kicksEnabled = false

    init(id: Int, vm: VirtualMachine, fd: OwnedDescriptor, page: KVMRunPage) {
        self.id = id
        self.vm = vm
        self.fd = fd
        self.page = page
        self.owner = pthread_self()
    }

    deinit {
        // The handler must never see a page that is about to be unmapped.
        if kicksEnabled && pthread_equal(owner, pthread_self()) != 0 { ckvm_set_thread_run(nil) }
    }

    func checkOwnThread(_ function: StaticString = #function) { checkThread(function) }

    private func checkThread(_ function: StaticString = #function) {
        precondition(pthread_equal(owner, pthread_self()) != 0, "VCPU.\(function) called off its own thread")
    }

    /// Registers this vCPU's page with the kick handler of the calling (owning) thread, so a
    /// `VCPUKick.kick` sets `immediate_exit` and a `run()` in progress returns `.interrupted`.
    public func enableKicks() {
        checkThread()
        VCPUKick.installHandler()
        ckvm_set_thread_run(page.runPointer)
        // After registering: a kick that arrives from here on finds the page.
        let rc = ckvm_unblock_signal(VCPUKick.signal)
        precondition(rc == 0, "pthread_sigmask failed: \(rc)")
        kicksEnabled = true
    }

    /// `KVM_RUN`: runs the guest until the next exit, decoded. `EINTR` (a kick, or
    /// `immediate_exit`) is `.interrupted`, and clears `immediate_exit`.
    /// - Throws: `KVMError` for any other failure of `KVM_RUN`.
    public func run() throws(KVMError) -> VMExit {
        checkThread()
        switch systemIoctl(fd.rawValue, .run, value: 0) {
        case .success:
            return page.decodeExit()
        case .failure(.interrupted), .failure(.resourceTemporarilyUnavailable):
            page.setImmediateExit(false)
            return .interrupted
        case .failure(let e):
            throw KVMError("KVM_RUN", e, detail: "vCPU \(id)")
        }
    }

    /// Writes the answer to the last exit into `kvm_run` (before the next `run()`).
    public func complete(_ completion: ExitCompletion) {
        checkThread()
        page.complete(completion)
    }

    // MARK: Registers

    /// `KVM_GET_REGS`.
    public func registers() throws(KVMError) -> GeneralRegisters {
        checkThread()
        var r = kvm_regs()
        try kvmIoctl(fd.rawValue, .getRegs, &r)
        return GeneralRegisters(r)
    }

    /// `KVM_SET_REGS`.
    public func setRegisters(_ registers: GeneralRegisters) throws(KVMError) {
        checkThread()
        var r = registers.kvm
        try kvmIoctl(fd.rawValue, .setRegs, &r)
    }

    /// `KVM_GET_SREGS`.
    public func specialRegisters() throws(KVMError) -> SpecialRegisters {
        checkThread()
        var s = kvm_sregs()
        try kvmIoctl(fd.rawValue, .getSregs, &s)
        return SpecialRegisters(s)
    }

    /// `KVM_SET_SREGS` (the pending-interrupt bitmap is kept as KVM has it).
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws(KVMError) {
        checkThread()
        var s = kvm_sregs()
        try kvmIoctl(fd.rawValue, .getSregs, &s)
        registers.apply(to: &s)
        try kvmIoctl(fd.rawValue, .setSregs, &s)
    }

    // MARK: MSRs

    private func withMSRBuffer<R>(_ count: Int, _ body: (UnsafeMutableRawBufferPointer) throws(KVMError) -> R)
        throws(KVMError) -> R
    {
        let header = MemoryLayout<kvm_msrs>.size
        let entry = MemoryLayout<kvm_msr_entry>.stride
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: header + count * entry, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.storeBytes(of: UInt32(count), toByteOffset: 0, as: UInt32.self)
        return try body(buffer)
    }

    /// `KVM_GET_MSRS`: values of the MSRs KVM could read (it stops at the first it cannot).
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [UInt32: UInt64] {
        checkThread()
        let header = MemoryLayout<kvm_msrs>.size
        let stride = MemoryLayout<kvm_msr_entry>.stride
        return try withMSRBuffer(indices.count) { buffer throws(KVMError) in
            for (i, index) in indices.enumerated() {
                buffer.storeBytes(of: index, toByteOffset: header + i * stride, as: UInt32.self)
            }
            let read = Int(try kvmIoctl(fd.rawValue, .getMSRs, buffer: buffer))
            var result: [UInt32: UInt64] = [:]
            for i in 0..<Swift.min(read, indices.count) {
                result[indices[i]] = buffer.load(fromByteOffset: header + i * stride + 8, as: UInt64.self)
            }
            return result
        }
    }

    /// `KVM_SET_MSRS`, returning how many KVM accepted (it stops at the first it refuses).
    func setMSRsCounting(_ values: [(index: UInt32, value: UInt64)]) throws(KVMError) -> Int {
        checkThread()
        let header = MemoryLayout<kvm_msrs>.size
        let stride = MemoryLayout<kvm_msr_entry>.stride
        return try withMSRBuffer(values.count) { buffer throws(KVMError) in
            for (i, v) in values.enumerated() {
                buffer.storeBytes(of: v.index, toByteOffset: header + i * stride, as: UInt32.self)
                buffer.storeBytes(of: v.value, toByteOffset: header + i * stride + 8, as: UInt64.self)
            }
            return Int(try kvmIoctl(fd.rawValue, .setMSRs, buffer: buffer))
        }
    }

    /// `KVM_SET_MSRS`. - Throws: when KVM accepted fewer than all of them.
    public func setMSRs(_ values: [(index: UInt32, value: UInt64)]) throws(KVMError) {
        checkThread()
        let header = MemoryLayout<kvm_msrs>.size
        let stride = MemoryLayout<kvm_msr_entry>.stride
        try withMSRBuffer(values.count) { buffer throws(KVMError) in
            for (i, v) in values.enumerated() {
                buffer.storeBytes(of: v.index, toByteOffset: header + i * stride, as: UInt32.self)
                buffer.storeBytes(of: v.value, toByteOffset: header + i * stride + 8, as: UInt64.self)
            }
            let written = Int(try kvmIoctl(fd.rawValue, .setMSRs, buffer: buffer))
            if written < values.count {
                let bad = values[written].index
                throw KVMError("KVM_SET_MSRS", .invalidArgument, detail: "MSR 0x\(String(bad, radix: 16)) refused")
            }
        }
    }

    // MARK: CPUID, FPU, LAPIC, events, MP state

    /// `KVM_SET_CPUID2`.
    public func setCPUID(_ entries: [CPUIDEntry]) throws(KVMError) {
        checkThread()
        let header = MemoryLayout<kvm_cpuid2>.size
        let stride = MemoryLayout<kvm_cpuid_entry2>.stride
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: header + entries.count * stride, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        buffer.storeBytes(of: UInt32(entries.count), toByteOffset: 0, as: UInt32.self)
        for (i, e) in entries.enumerated() {
            buffer.storeBytes(of: e.kvm, toByteOffset: header + i * stride, as: kvm_cpuid_entry2.self)
        }
        try kvmIoctl(fd.rawValue, .setCPUID2, buffer: buffer, detail: "\(entries.count) entries")
    }

    /// `KVM_SET_FPU` with the power-on x87 control word (0x37f) and MXCSR (0x1f80).
    public func initializeFPU() throws(KVMError) {
        checkThread()
        var fpu = kvm_fpu()
        fpu.fcw = 0x37f
        fpu.mxcsr = 0x1f80
        try kvmIoctl(fd.rawValue, .setFPU, &fpu)
    }

    /// `KVM_GET_LAPIC`: the 1 KiB LAPIC register page.
    public func lapicRegisters() throws(KVMError) -> [UInt8] {
        checkThread()
        var state = kvm_lapic_state()
        try kvmIoctl(fd.rawValue, .getLAPIC, &state)
        return withUnsafeBytes(of: state.regs) { Array($0) }
    }

    /// `KVM_SET_LAPIC` from a 1 KiB register page.
    public func setLAPICRegisters(_ bytes: [UInt8]) throws(KVMError) {
        checkThread()
        var state = kvm_lapic_state()
        withUnsafeMutableBytes(of: &state.regs) { raw in
            for i in 0..<Swift.min(raw.count, bytes.count) { raw[i] = bytes[i] }
        }
        try kvmIoctl(fd.rawValue, .setLAPIC, &state)
    }

    /// Programs LVT LINT0 as ExtINT and LINT1 as NMI (the PC wiring of the 8259 and NMI), as
    /// firmware would before handing over to an OS.
    public func configureLegacyLINT() throws(KVMError) {
        var regs = try lapicRegisters()
        func update(_ offset: Int, mode: UInt32) {
            var v: UInt32 = 0
            for i in 0..<4 { v |= UInt32(regs[offset + i]) << (8 * UInt32(i)) }
            v = (v & ~0x700) | (mode << 8)
            for i in 0..<4 { regs[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
        }
        update(0x350, mode: 0x7)  // LINT0: ExtINT
        update(0x360, mode: 0x4)  // LINT1: NMI
        try setLAPICRegisters(regs)
    }

    /// Injects an exception through `KVM_SET_VCPU_EVENTS` (delivered at the next entry).
    public func injectException(vector: UInt8, errorCode: UInt32? = nil) throws(KVMError) {
        checkThread()
        var events = kvm_vcpu_events()
        try kvmIoctl(fd.rawValue, .getVCPUEvents, &events)
        events.exception.injected = 1
        events.exception.pending = 0
        events.exception.nr = vector
        events.exception.has_error_code = errorCode == nil ? 0 : 1
        events.exception.error_code = errorCode ?? 0
        events.flags = 0
        try kvmIoctl(fd.rawValue, .setVCPUEvents, &events, detail: "vector \(vector)")
    }

    /// `KVM_GET_MP_STATE`.
    public func mpState() throws(KVMError) -> MPState {
        checkThread()
        var s = kvm_mp_state()
        try kvmIoctl(fd.rawValue, .getMPState, &s)
        return MPState(rawValue: s.mp_state)
    }

    /// `KVM_SET_MP_STATE`.
    public func setMPState(_ state: MPState) throws(KVMError) {
        checkThread()
        var s = kvm_mp_state(mp_state: state.rawValue)
        try kvmIoctl(fd.rawValue, .setMPState, &s)
    }
}

/// The kick signal: `SIGRTMIN`, whose C handler sets `immediate_exit` on the interrupted
/// thread's registered `kvm_run` page.
public enum VCPUKick {
    /// The signal number used for kicks.
    public static var signal: Int32 { ckvm_sigrtmin() }

    private static let installed: Bool = ckvm_install_kick_handler(ckvm_sigrtmin()) == 0

    /// Installs the handler once per process.
    public static func installHandler() {
        precondition(installed, "sigaction for the vCPU kick signal failed")
    }

    /// Sends the kick signal to `thread`. The caller must know the thread is still alive.
    public static func kick(_ thread: pthread_t) {
        installHandler()
        _ = pthread_kill(thread, ckvm_sigrtmin())
    }
}
