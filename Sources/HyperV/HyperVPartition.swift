import GuestMemory
import Logging
import Synchronization

/// The Hyper-V interface of one partition (VM), emulated in user space: synthetic MSRs, the
/// hypercall page and dispatcher, and the SynIC. The VMM routes three kinds of exit here:
///
/// - `rdmsr`/`wrmsr` of 0x40000000-0x400001FF (denied by a KVM MSR filter) →
///   `readMSR(_:vp:)` / `writeMSR(_:value:vp:)`; `nil`/`false` means inject #GP.
/// - the hypercall trap, `out HypercallPage.trapPort, al` (see `HypercallPage.isTrap`) →
///   `handleHypercall(rcx:rdx:r8:vp:)`, whose result goes into RAX.
/// - before each `KVM_RUN` on a vCPU thread → `synic.deliverPending(vp:)`.
///
/// ## Concurrency model
/// `Sendable`: partition-wide MSRs sit in one `Mutex`, per-VP SynIC state in the SynIC's per-VP
/// mutexes. Every method may be called from any vCPU thread; the ones taking `vp` expect to run
/// on that VP's thread (they write that VP's message slots). Callbacks run with no lock held.
public final class HyperVPartition: Sendable {
    struct PartitionState: Sendable {
        var guestOSID: UInt64 = 0
        var hypercall: UInt64 = 0
        var tscInvariantControl: UInt64 = 0
        var crashParameters = [UInt64](repeating: 0, count: 5)
        var vpAssistPages: [UInt64]
    }

    public let configuration: HyperVConfiguration
    /// The SynIC; hand it to the VMBus host as its `SynICMessagePort`.
    public let synic: SynIC

    let memory: GuestMemory
    let messageHandler: any HypercallMessageHandler
    /// Rep hypercalls by call code; empty for guests (tests install their own).
    let repHypercalls: [UInt16: RepHypercall]
    private let events: HyperVEventHandlers
    private let guestTSC: (@Sendable (Int) -> UInt64)?
    private let createdAt = ContinuousClock.now
    /// Added (wrapping) to the host-clock reference time, so a restored partition continues from
    /// the saved reference time instead of restarting at 0 (see `continueReferenceTime`).
    private let referenceBias = Atomic<UInt64>(0)
    let state: Mutex<PartitionState>
    let logger: Logger
    private let unknownMSRs = LogOnce<UInt32>()
    let logOnce = LogOnce<String>()

    /// - Parameters:
    ///   - configuration: VP count and frequencies; must match `synic.vpCount`.
    ///   - memory: guest RAM (hypercall page, hypercall inputs, crash message page).
    ///   - synic: the SynIC built first, so the VMBus host can be built with it as its port.
    ///   - messageHandler: answers HvPostMessage/HvSignalEvent (the VMBus host).
    ///   - events: crash and reset notifications for the VMM.
    ///   - guestTSC: reads `vp`'s guest TSC (on that vCPU's thread) for TIME_REF_COUNT; without
    ///     it the reference counter runs from the host's monotonic clock since creation.
    public convenience init(
        configuration: HyperVConfiguration, memory: GuestMemory, synic: SynIC,
        messageHandler: any HypercallMessageHandler, events: HyperVEventHandlers = HyperVEventHandlers(),
        guestTSC: (@Sendable (Int) -> UInt64)? = nil, logger: Logger = Logger(label: "swifthv.hyperv")
    ) {
        self.init(
            configuration: configuration, memory: memory, synic: synic, messageHandler: messageHandler, events: events,
            guestTSC: guestTSC, logger: logger, repHypercalls: [:])
    }

    init(
        configuration: HyperVConfiguration, memory: GuestMemory, synic: SynIC,
        messageHandler: any HypercallMessageHandler, events: HyperVEventHandlers, guestTSC: (@Sendable (Int) -> UInt64)?,
        logger: Logger, repHypercalls: [UInt16: RepHypercall]
    ) {
        self.repHypercalls = repHypercalls
        precondition(synic.vpCount == configuration.vpCount, "SynIC and configuration disagree on the VP count")
        self.configuration = configuration
        self.memory = memory
        self.synic = synic
        self.messageHandler = messageHandler
        self.events = events
        self.guestTSC = guestTSC
        self.logger = logger
        self.state = Mutex(PartitionState(vpAssistPages: [UInt64](repeating: 0, count: configuration.vpCount)))
    }

    /// The CPUID leaves to install on every vCPU (see `HyperVConfiguration.cpuidLeaves`).
    public var cpuidLeaves: [CPUIDLeaf] { configuration.cpuidLeaves }

    /// True while the guest has the hypercall page enabled.
    public var isHypercallPageEnabled: Bool {
        state.withLock { $0.hypercall & SyntheticMSRLayout.enableBit != 0 }
    }

    // MARK: MSRs

    /// Reads a synthetic MSR for `vp`.
    /// - Returns: the value, or `nil` to make the VMM inject #GP (an MSR outside the synthetic
    ///   range, a write-only MSR, or an unknown VP). Unimplemented MSRs inside the range read 0.
    public func readMSR(_ index: UInt32, vp: Int) -> UInt64? {
        guard SyntheticMSR.range.contains(index), (0..<configuration.vpCount).contains(vp) else { return nil }
        let msr = SyntheticMSR(rawValue: index)
        if let value = synic.readRegister(msr, vp: vp) { return value }
        switch msr {
        case .guestOSID: return state.withLock { $0.guestOSID }
        case .hypercall: return state.withLock { $0.hypercall }
        case .vpIndex: return UInt64(vp)
        case .reset: return 0
        case .timeRefCount: return referenceTime(vp: vp)
        case .tscFrequency: return configuration.tscFrequencyHz
        case .apicFrequency: return configuration.apicFrequencyHz
        case .vpAssistPage: return state.withLock { $0.vpAssistPages[vp] }
        case .tscInvariantControl: return state.withLock { $0.tscInvariantControl }
        case SyntheticMSR.crashP0...SyntheticMSR.crashP4 where configuration.offerCrashMSRs:
            return state.withLock { $0.crashParameters[Int(index - SyntheticMSR.crashP0.rawValue)] }
        case .crashControl where configuration.offerCrashMSRs:
            // The capabilities: register dump and kernel-log page.
            return SyntheticMSRLayout.crashNotify | SyntheticMSRLayout.crashNotifyMessage
        default:
            noteUnknown(index, write: nil)
            return 0
        }
    }

    /// Writes a synthetic MSR for `vp`. The hypercall page is filled before this returns (R6),
    /// and SynIC writes that can unblock messages deliver them before this returns.
    /// - Returns: `false` to make the VMM inject #GP (read-only MSR, invalid value, a page
    ///   outside RAM, an MSR outside the synthetic range, an unknown VP). Unimplemented MSRs
    ///   inside the range accept writes.
    public func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool {
        guard SyntheticMSR.range.contains(index), (0..<configuration.vpCount).contains(vp) else { return false }
        let msr = SyntheticMSR(rawValue: index)
        switch synic.writeRegister(msr, value: value, vp: vp) {
        case .accepted: return true
        case .fault: return false
        case .notHandled: break
        }
        switch msr {
        case .guestOSID:
            state.withLock { s in
                s.guestOSID = value
                // KVM's rule: a zero guest OS id disables the hypercall page.
                if value == 0 { s.hypercall &= ~SyntheticMSRLayout.enableBit }
            }
            return true
        case .hypercall:
            return writeHypercallMSR(value)
        case .vpIndex, .timeRefCount, .tscFrequency, .apicFrequency:
            return false  // read-only
        case .reset:
            if value & SyntheticMSRLayout.resetBit != 0 {
                logger.notice("Hyper-V: guest requested a partition reset through HV_X64_MSR_RESET")
                events.resetRequested()
            }
            return true
        case .vpAssistPage:
            // Stored only: nothing we offer (APIC MSRs, nested) makes the guest use its contents.
            state.withLock { $0.vpAssistPages[vp] = value }
            return true
        case .tscInvariantControl:
            // "Store the value only": invariant TSC is exposed statically (CPUID is frozen).
            state.withLock { $0.tscInvariantControl = value }
            return true
        case SyntheticMSR.crashP0...SyntheticMSR.crashP4 where configuration.offerCrashMSRs:
            state.withLock { $0.crashParameters[Int(index - SyntheticMSR.crashP0.rawValue)] = value }
            return true
        case .crashControl where configuration.offerCrashMSRs:
            if value & SyntheticMSRLayout.crashNotify != 0 { reportCrash(control: value, vp: vp) }
            return true
        default:
            noteUnknown(index, write: value)
            return true
        }
    }

    private enum HypercallMSROutcome {
        case applied
        case ignored(String)
        case pageOutsideRAM
    }

    /// Enables/disables the hypercall page; writes its code into guest RAM on every enable.
    private func writeHypercallMSR(_ value: UInt64) -> Bool {
        // Checked and applied under the lock so two VPs writing the MSR cannot interleave.
        let outcome: HypercallMSROutcome = state.withLock { s in
            if s.guestOSID == 0 { return .ignored("ignored: guest OS id not set") }  // KVM's rule
            if s.hypercall & SyntheticMSRLayout.hypercallLockedBit != 0 { return .ignored("ignored: locked") }
            if value & SyntheticMSRLayout.enableBit != 0 {
                let page = GuestPhysicalAddress(value & SyntheticMSRLayout.pageAddressMask)
                do {
                    try memory.write(HypercallPage.code, at: page)
                } catch {
                    return .pageOutsideRAM
                }
            }
            s.hypercall = value
            return .applied
        }
        switch outcome {
        case .applied:
            return true
        case .pageOutsideRAM:
            let page = String(value & SyntheticMSRLayout.pageAddressMask, radix: 16)
            logger.warning("Hyper-V: hypercall page at 0x\(page) is outside RAM; #GP")
            return false
        case .ignored(let reason):
            if logOnce.first(reason) { logger.notice("Hyper-V: HV_X64_MSR_HYPERCALL write \(reason)") }
            return true
        }
    }

    private func reportCrash(control: UInt64, vp: Int) {
        let parameters = state.withLock { $0.crashParameters }
        var message: String?
        if control & SyntheticMSRLayout.crashNotifyMessage != 0 {
            // P3 = GPA, P4 = length of the kernel log; capped at one page and bounds-checked.
            let length = Int(min(parameters[4], UInt64(SynICLayout.pageSize)))
            if let bytes = try? memory.read(at: GuestPhysicalAddress(parameters[3]), count: length) {
                // The text ends at the first NUL (a hostile length may cover a zeroed page).
                message = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            } else {
                message = "(crash message page 0x\(String(parameters[3], radix: 16)) is outside RAM)"
            }
        }
        let report = GuestCrashReport(vp: vp, parameters: parameters, message: message)
        logger.critical("Hyper-V: \(report)")
        events.guestCrashed(report)
    }

    private func noteUnknown(_ index: UInt32, write: UInt64?) {
        guard unknownMSRs.first(index) else { return }
        if let write {
            logger.notice("Hyper-V: write of 0x\(String(write, radix: 16)) to unimplemented MSR 0x\(String(index, radix: 16)) accepted")
        } else {
            logger.notice("Hyper-V: read of unimplemented MSR 0x\(String(index, radix: 16)) returns 0")
        }
    }

    /// The partition reference time in 100 ns units: `guest TSC × 10^7 / TSC Hz` (the formula a
    /// reference TSC page would use, so both agree if one is added later).
    public func referenceTime(vp: Int) -> UInt64 {
        guard let guestTSC else {
            return hostClockReferenceTime() &+ referenceBias.load(ordering: .relaxed)
        }
        let (high, low) = guestTSC(vp).multipliedFullWidth(by: 10_000_000)
        let hz = configuration.tscFrequencyHz
        // The quotient overflows only after 2^64 × 100 ns (58,000 years); saturate rather than trap.
        guard high < hz else { return .max }
        return hz.dividingFullWidth((high, low)).quotient
    }

    /// 100 ns units since this partition was created, from the host's monotonic clock.
    private func hostClockReferenceTime() -> UInt64 {
        let elapsed = ContinuousClock.now - createdAt
        let (seconds, attoseconds) = elapsed.components
        return UInt64(max(seconds, 0)) &* 10_000_000 &+ UInt64(max(attoseconds, 0) / 100_000_000_000)
    }

    /// Makes the host-clock reference time read `time` now and run on from there (restore).
    /// With a `guestTSC` source the counter follows the guest TSC, which the machine side
    /// restores, so nothing is adjusted.
    func continueReferenceTime(from time: UInt64) {
        guard guestTSC == nil else { return }
        referenceBias.store(time &- hostClockReferenceTime(), ordering: .relaxed)
    }
}
