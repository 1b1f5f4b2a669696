import Dispatch
import KVM
import Synchronization

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// The `Sendable` side of one vCPU (Firecracker's `VcpuHandle`): other threads use it to stop
/// and kick the vCPU; the `VCPU` itself never leaves its thread.
///
/// ## Concurrency model
/// `stopRequested` is an atomic the vCPU loop polls before each `KVM_RUN`. The pthread id and
/// liveness are under a `Mutex`, and `pthread_kill` is sent under that lock, so a kick never
/// targets a thread that has finished (the thread marks itself gone under the same lock
/// before it releases its `kvm_run` page).
public final class VCPUHandle: Sendable {
    /// The vCPU index (= APIC id).
    public let index: Int
    private let stop = Atomic<Bool>(false)
    private let paused = Atomic<Bool>(false)
    /// Wakes a paused vCPU thread (resume or stop); extra signals are harmless because the
    /// thread re-checks `paused` after every wake-up.
    private let wake = DispatchSemaphore(value: 0)
    /// Exits per `VMExitCategory.ordinal` (their sum is the total); written by the vCPU thread
    /// only, read by status requests (an uncontended lock costs far less than the exit it counts).
    private let exitsByCategory = Mutex([UInt64](repeating: 0, count: VMExitCategory.allCases.count))
    private let emulatedCount = Atomic<UInt64>(0)
    private struct ThreadState {
        var thread: pthread_t?
        var alive = false
    }
    private let state = Mutex(ThreadState())
    /// Work for the vCPU thread while it is paused (state capture): the `VCPU` never leaves its
    /// thread, so other threads send closures to it.
    private let work = Mutex<[Work]>([])
    /// A closure run on the vCPU thread with its `VCPU` and a `settle` function that completes
    /// any exit still pending in the kernel (handling further exits it produces).
    typealias Work = @Sendable (VCPU, _ settle: () throws(KVMError) -> Void) -> Void

    init(index: Int) { self.index = index }

    /// True once `requestStop()` was called.
    public var stopRequested: Bool { stop.load(ordering: .acquiring) }

    /// Asks the vCPU loop to finish, and kicks it out of `KVM_RUN`.
    public func requestStop() {
        stop.store(true, ordering: .releasing)
        kick()
        wake.signal()
    }

    /// True while the vCPU is asked to stay out of `KVM_RUN`.
    public var isPaused: Bool { paused.load(ordering: .acquiring) }

    /// Keeps the vCPU out of `KVM_RUN` from its next exit on (it is kicked to get there).
    func pause() {
        paused.store(true, ordering: .releasing)
        kick()
    }

    /// Lets a paused vCPU run again.
    func resume() {
        paused.store(false, ordering: .releasing)
        wake.signal()
    }

    /// Called on the vCPU thread: blocks while paused (returns at once otherwise, or on stop),
    /// running the work `perform` queued.
    func waitWhilePaused(_ vcpu: VCPU, settle: () throws(KVMError) -> Void) {
        runPendingWork(vcpu, settle: settle)
        while isPaused && !stopRequested {
            wake.wait()
            runPendingWork(vcpu, settle: settle)
        }
    }

    /// Runs `body` on the vCPU thread the next time it is out of `KVM_RUN` (at once when it
    /// is paused). The caller waits for its own result.
    func perform(_ body: @escaping Work) {
        work.withLock { $0.append(body) }
        wake.signal()
        kick()
    }

    func runPendingWork(_ vcpu: VCPU, settle: () throws(KVMError) -> Void) {
        let pending = work.withLock { w -> [Work] in
            defer { w.removeAll() }
            return w
        }
        for body in pending { body(vcpu, settle) }
    }

    /// Interrupts `KVM_RUN` (or makes the next one return at once).
    public func kick() {
        state.withLock { s in
            if s.alive, let t = s.thread { VCPUKick.kick(t) }
        }
    }

    /// Exits to user space so far, and instructions the user-space fallback emulated.
    public var statistics: VCPUStatistics {
        let counts = exitsByCategory.withLock { $0 }
        return VCPUStatistics(
            index: index, exits: counts.reduce(0, &+),
            emulatedInstructions: emulatedCount.load(ordering: .relaxed),
            exitsByReason: Dictionary(uniqueKeysWithValues: VMExitCategory.allCases.compactMap { c in
                counts[c.ordinal] == 0 ? nil : (c.rawValue, counts[c.ordinal])
            }))
    }

    func countExit(_ category: VMExitCategory) { exitsByCategory.withLock { $0[category.ordinal] &+= 1 } }
    func countEmulated() { emulatedCount.add(1, ordering: .relaxed) }

    /// Called on the vCPU thread once its page is registered for kicks.
    func attach() {
        state.withLock { s in
            s.thread = pthread_self()
            s.alive = true
        }
    }

    /// Called on the vCPU thread before its `VCPU` (and page) is released.
    func detach() {
        state.withLock { $0.alive = false }
    }
}

/// Counters of one vCPU, for diagnostics (exit rates show where a slow guest spends its time).
public struct VCPUStatistics: Sendable, Hashable {
    public let index: Int
    /// Exits that reached user space (interrupted runs included).
    public let exits: UInt64
    /// Instructions emulated by `EmulationFallback` (int3, clac, stac, fwait).
    public let emulatedInstructions: UInt64
    /// Exits by `VMExitCategory` raw value (`io`, `mmio`, `msr`, `interrupted`, ...); reasons not
    /// seen yet are absent.
    public let exitsByReason: [String: UInt64]
}
