import Boot
import Chipset
import GuestMemory
import KVM
import Logging
import Synchronization

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// What a `Machine` is built from (everything KVM needs before the first vCPU runs).
public struct MachineConfiguration: Sendable {
    /// Guest RAM; every region becomes a KVM memory slot.
    public var memory: GuestMemory
    /// Number of vCPUs (vCPU 0 boots; the others wait for INIT/SIPI).
    public var vcpuCount: Int
    /// The boot vCPU's state, from the loader.
    public var boot: InitialCPUState
    /// The CPUID the guest sees (e.g. `HostCompatibility.guestCPUID`, with Hyper-V leaves
    /// merged in). Per-vCPU APIC ids are patched in by the machine.
    public var cpuid: [CPUIDEntry]
    /// MSR ranges denied by the KVM MSR filter, so the guest's accesses reach `MSRHandler`.
    public var msrFilter: [ClosedRange<UInt32>]
    /// Which MSR accesses KVM sends to user space (`filter` is needed for `msrFilter`).
    public var userSpaceMSRExits: MSRExitReason
    /// Create the in-kernel PIT (`KVM_CREATE_PIT2`).
    public var inKernelPIT: Bool
    /// A saved state to start from instead of `boot` (Start-VM of a saved VM): vCPUs and the
    /// in-kernel devices are restored before any vCPU runs. Guest RAM is the caller's to load.
    public var restore: MachineState?

    /// The Hyper-V synthetic MSR range.
    public static let hyperVMSRRange: ClosedRange<UInt32> = 0x4000_0000...0x4000_01ff

    public init(
        memory: GuestMemory, vcpuCount: Int, boot: InitialCPUState, cpuid: [CPUIDEntry],
        msrFilter: [ClosedRange<UInt32>] = [MachineConfiguration.hyperVMSRRange],
        userSpaceMSRExits: MSRExitReason = [.filter, .unknown], inKernelPIT: Bool = true
    ) {
        self.memory = memory
        self.vcpuCount = vcpuCount
        self.boot = boot
        self.cpuid = cpuid
        self.msrFilter = msrFilter
        self.userSpaceMSRExits = userSpaceMSRExits
        self.inKernelPIT = inKernelPIT
    }
}

/// One running virtual machine: the KVM VM with in-kernel irqchip and PIT, one pthread per
/// vCPU, and the stop logic. Devices reach it as `PlatformControl` (power off, reset) and
/// through `interruptLine(gsi:)` / `msi`.
///
/// Typical use:
/// ```swift
/// let machine = try Machine(configuration)
/// // build devices with machine.interruptLine(gsi:), machine (PlatformControl), machine.msi
/// let reason = try machine.run(MachineIO(portIO: pio, mmio: mmio, msrHandler: hv, portHooks: hooks))
/// ```
///
/// ## Concurrency model
/// `Sendable`. The VM fd is thread-safe; each vCPU's `VCPU` lives on its own pthread (created
/// there), reachable only through its `VCPUHandle`. The stop reason and lifecycle are under a
/// `Mutex`; the first stop request wins and kicks every vCPU; `waitUntilStopped` joins them.
public final class Machine: PlatformControl, Sendable {
    /// The KVM VM (for irqfd/ioeventfd wiring the machine does not wrap).
    public let vm: VirtualMachine
    public let configuration: MachineConfiguration
    let logger: Logger
    private let handles: [VCPUHandle]
    var vcpuHandles: [VCPUHandle] { handles }

    private enum Phase { case created, running([SpawnedThread]), finished }
    private struct State {
        var phase = Phase.created
        var stopReason: StopReason?
    }
    private let state = Mutex(State())
    /// vCPUs created and configured; the boot vCPU runs only when all are (an INIT/SIPI sent
    /// before an AP exists, or before its MP state is set, would be lost).
    private let configuredVCPUs = Atomic<Int>(0)

    /// Creates the VM: memory slots, TSS and identity map, in-kernel irqchip and PIT,
    /// user-space MSR exits and the MSR filter. vCPUs are created when the machine starts.
    /// - Throws: `VMMError` (`.kvmSetup` with the `KVMError` as cause, or `.invalidConfiguration`).
    public init(
        _ configuration: MachineConfiguration, system: KVMSystem? = nil, logger: Logger = Logger(label: "swifthv.vmm")
    )
        throws(VMMError)
    {
        guard configuration.vcpuCount >= 1 && configuration.vcpuCount <= 255 else {
            throw VMMError(.invalidConfiguration, "vCPU count \(configuration.vcpuCount) not in 1...255")
        }
        if let saved = configuration.restore, saved.vcpus.count != configuration.vcpuCount {
            throw VMMError(
                .invalidConfiguration,
                "the saved state has \(saved.vcpus.count) vCPUs, the VM \(configuration.vcpuCount)")
        }
        self.configuration = configuration
        self.logger = logger
        self.handles = (0..<configuration.vcpuCount).map { VCPUHandle(index: $0) }
        var step = "open /dev/kvm"
        do throws(KVMError) {
            let kvm: KVMSystem
            if let system { kvm = system } else { kvm = try KVMSystem.open() }
            step = "create the VM"
            let vm = try kvm.createVM()
            step = "map guest memory"
            try vm.map(configuration.memory)
            step = "set the TSS and identity-map addresses"
            try vm.setIdentityMapAddress()
            try vm.setTSSAddress()
            step = "create the in-kernel irqchip"
            try vm.createIRQChip()
            if configuration.inKernelPIT {
                step = "create the in-kernel PIT"
                try vm.createPIT2()
            }
            if !configuration.userSpaceMSRExits.isEmpty {
                step = "enable user-space MSR exits"
                try vm.enableUserSpaceMSRExits(configuration.userSpaceMSRExits)
            }
            if !configuration.msrFilter.isEmpty {
                step = "set the MSR filter"
                try vm.setMSRFilter(denying: configuration.msrFilter)
            }
            self.vm = vm
        } catch {
            throw VMMError(.kvmSetup, "cannot \(step)", cause: error)
        }
    }

    // MARK: Interrupts

    /// An interrupt line driving `gsi` (IOAPIC pin; GSIs below 16 also reach the PIC) with
    /// `KVM_IRQ_LINE`.
    public func interruptLine(gsi: UInt32) -> any InterruptLine {
        GSILine(vm: vm, gsi: gsi, logger: logger)
    }

    /// Pauses every vCPU: each leaves `KVM_RUN` at its next exit (it is kicked) and waits.
    /// Devices and timers on host threads keep running; guest RAM stays as it is.
    public func pause() {
        for h in handles { h.pause() }
    }

    /// Resumes vCPUs paused by `pause()`.
    public func resume() {
        for h in handles { h.resume() }
    }

    /// True while `pause()` is in effect.
    public var isPaused: Bool { handles.allSatisfy(\.isPaused) }

    /// Brings vCPU `index` out of `KVM_RUN` soon (immediate exit + signal), so its thread runs
    /// `MachineIO.beforeEntry`; ignored for an index out of range.
    public func kick(vcpu index: Int) {
        guard handles.indices.contains(index) else { return }
        handles[index].kick()
    }

    /// Sends message-signalled interrupts (`KVM_SIGNAL_MSI`).
    public var msi: MSISender { MSISender(vm: vm, logger: logger) }

    /// Per-vCPU counters (exits, emulated instructions); readable while the machine runs.
    public var statistics: [VCPUStatistics] { handles.map(\.statistics) }

    // MARK: Lifecycle

    /// `PlatformControl`: a device asks for power off or reset.
    public func requestStop(_ request: PlatformStopRequest) {
        stop(StopReason(request))
    }

    /// The host asks the machine to stop (`StopReason.stopRequested`).
    public func requestStop() {
        stop(.stopRequested)
    }

    /// Records `reason` unless a stop is already under way, and stops every vCPU.
    func stop(_ reason: StopReason) {
        let first = state.withLock { s -> Bool in
            guard s.stopReason == nil else { return false }
            s.stopReason = reason
            return true
        }
        if first { logger.info("machine stopping: \(reason)") }
        for h in handles { h.requestStop() }
    }

    /// Called by each vCPU thread once its vCPU is configured.
    func vcpuConfigured() { configuredVCPUs.add(1, ordering: .releasing) }

    /// Blocks the boot vCPU's thread until every vCPU is configured (or a stop is requested).
    /// Start-up only, so a short sleep loop is enough.
    func waitForAllVCPUs(_ handle: VCPUHandle) {
        while configuredVCPUs.load(ordering: .acquiring) < configuration.vcpuCount && !handle.stopRequested {
            usleep(500)
        }
    }

    /// Starts one pthread per vCPU and returns.
    /// - Throws: `VMMError(.invalidState)` when the machine was already started.
    public func start(_ io: MachineIO) throws(VMMError) {
        try state.withLock { s throws(VMMError) in
            guard case .created = s.phase else { throw VMMError(.invalidState, "the machine was already started") }
            let threads = handles.map { handle in
                let context = VCPUContext(machine: self, handle: handle, io: io)
                return spawnThread(name: "vcpu\(handle.index)") { context.main() }
            }
            s.phase = .running(threads)
        }
    }

    /// Blocks until every vCPU thread has finished; returns why the machine stopped.
    /// Call it from a thread that may block (not from a Swift concurrency task).
    public func waitUntilStopped() -> StopReason {
        let threads = state.withLock { s -> [SpawnedThread] in
            guard case .running(let t) = s.phase else { return [] }
            s.phase = .finished
            return t
        }
        for t in threads { t.join() }
        return state.withLock { $0.stopReason } ?? .stopRequested
    }

    /// Waits for the machine to stop without blocking a Swift concurrency thread: the join
    /// happens on a dedicated pthread.
    public func waitForStop() async -> StopReason {
        await withCheckedContinuation { (continuation: CheckedContinuation<StopReason, Never>) in
            spawnThread(name: "vm-wait") { continuation.resume(returning: self.waitUntilStopped()) }.detach()
        }
    }

    /// `start` then `waitUntilStopped`: runs the VM until it stops.
    public func run(_ io: MachineIO) throws(VMMError) -> StopReason {
        try start(io)
        return waitUntilStopped()
    }

    /// The per-vCPU CPUID: `cpuid` with this vCPU's APIC id and the logical CPU count.
    static func cpuid(_ base: [CPUIDEntry], vcpu: Int, count: Int) -> [CPUIDEntry] {
        base.map { e in
            var e = e
            switch e.function {
            case 1:
                e.ebx = (e.ebx & 0x0000_ffff) | UInt32(vcpu & 0xff) << 24 | UInt32(count & 0xff) << 16
            case 0xb, 0x1f:
                e.edx = UInt32(vcpu)
            default:
                break
            }
            return e
        }
    }
}

/// A GSI driven with `KVM_IRQ_LINE`.
struct GSILine: InterruptLine {
    let vm: VirtualMachine
    let gsi: UInt32
    let logger: Logger
    func setLevel(_ asserted: Bool) {
        do throws(KVMError) {
            try vm.setIRQLine(gsi: gsi, level: asserted)
        } catch {
            logger.error("GSI \(gsi): \(error)")
        }
    }
}

/// Sends MSIs into the VM (`KVM_SIGNAL_MSI`): address 0xFEE0_0000 | (APIC id << 12), data = vector.
public struct MSISender: Sendable {
    let vm: VirtualMachine
    let logger: Logger

    /// Sends one MSI. Returns false when no LAPIC accepted it, or on error (logged).
    @discardableResult
    public func send(address: UInt64, data: UInt32) -> Bool {
        do throws(KVMError) {
            return try vm.signalMSI(address: address, data: data)
        } catch {
            logger.error("MSI to 0x\(String(address, radix: 16)): \(error)")
            return false
        }
    }

    /// A fixed, edge-triggered interrupt with `vector` to the LAPIC with id `apicID`.
    @discardableResult
    public func send(vector: UInt8, toAPIC apicID: UInt8) -> Bool {
        send(address: 0xfee0_0000 | UInt64(apicID) << 12, data: UInt32(vector))
    }
}
