import GuestMemory
import Synchronization

@testable import HyperV

/// A mutex in a class, so structs and closures can share it.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// Records raised interrupts.
final class RecordingSink: SynICInterruptSink {
    struct Interrupt: Hashable, Sendable {
        var vp: UInt32
        var vector: UInt8
    }
    let interrupts = Mutex<[Interrupt]>([])
    func interrupt(vp: UInt32, vector: UInt8) { interrupts.withLock { $0.append(Interrupt(vp: vp, vector: vector)) } }
    var all: [Interrupt] { interrupts.withLock { $0 } }
    var count: Int { interrupts.withLock { $0.count } }
}

/// Records the message hypercalls, answering with a settable status.
final class RecordingHandler: HypercallMessageHandler {
    struct Post: Hashable, Sendable {
        var connectionID: UInt32
        var messageType: UInt32
        var payload: [UInt8]
        var vp: UInt32
    }
    struct Signal: Hashable, Sendable {
        var connectionID: UInt32
        var flagNumber: UInt16
        var vp: UInt32
    }
    let posts = Mutex<[Post]>([])
    let signals = Mutex<[Signal]>([])
    let status = Mutex<HvStatus>(.success)

    func postMessage(connectionID: UInt32, messageType: UInt32, payload: [UInt8], vp: UInt32) -> HvStatus {
        posts.withLock { $0.append(Post(connectionID: connectionID, messageType: messageType, payload: payload, vp: vp)) }
        return status.withLock { $0 }
    }
    func signalEvent(connectionID: UInt32, flagNumber: UInt16, vp: UInt32) -> HvStatus {
        signals.withLock { $0.append(Signal(connectionID: connectionID, flagNumber: flagNumber, vp: vp)) }
        return status.withLock { $0 }
    }
}

/// Guest RAM, a SynIC and a partition wired to recorders.
struct Fixture {
    static let ramSize: UInt64 = 0x20_0000  // 2 MiB
    static let hypercallPage: UInt64 = 0x1_0000
    static let inputPage: UInt64 = 0x1_1000
    static let outputPage: UInt64 = 0x1_2000
    static let linuxGuestOSID: UInt64 = 0x8100_0006_01C0_0000  // 6.1.192

    /// The SIMP page of `vp`.
    static func simp(_ vp: Int) -> UInt64 { 0x2_0000 + UInt64(vp) * 0x2000 }
    /// The SIEFP page of `vp`.
    static func siefp(_ vp: Int) -> UInt64 { 0x2_1000 + UInt64(vp) * 0x2000 }

    let memory: GuestMemory
    let sink = RecordingSink()
    let handler = RecordingHandler()
    let kicks = Locked<[UInt32]>([])
    let crashes = Locked<[GuestCrashReport]>([])
    let resets = Locked(0)
    let synic: SynIC
    let partition: HyperVPartition

    init(
        vpCount: Int = 2, offerCrashMSRs: Bool = true, maxQueued: Int = 4096, guestTSC: (@Sendable (Int) -> UInt64)? = nil,
        repHypercalls: [UInt16: RepHypercall] = [:], memory: GuestMemory? = nil, onKick: (@Sendable (UInt32) -> Void)? = nil
    ) throws {
        self.memory = memory ?? GuestMemory.heapBacked(size: Self.ramSize)
        let memory = self.memory
        let kicks = self.kicks
        synic = SynIC(vpCount: vpCount, memory: memory, interruptSink: sink, maxQueuedMessagesPerSINT: maxQueued) { vp in
            if let onKick { onKick(vp) } else { kicks.withLock { $0.append(vp) } }
        }
        let crashes = self.crashes
        let resets = self.resets
        let config = try HyperVConfiguration(vpCount: vpCount, tscFrequencyHz: 2_500_000_000, offerCrashMSRs: offerCrashMSRs)
        partition = HyperVPartition(
            configuration: config, memory: memory, synic: synic, messageHandler: handler,
            events: HyperVEventHandlers(
                guestCrashed: { report in crashes.withLock { $0.append(report) } },
                resetRequested: { resets.withLock { $0 += 1 } }),
            guestTSC: guestTSC, logger: .init(label: "test"), repHypercalls: repHypercalls)
    }

    /// Linux's hyperv_init(): guest OS id, then the hypercall page.
    func enableHypercalls() {
        _ = partition.writeMSR(SyntheticMSR.guestOSID.rawValue, value: Self.linuxGuestOSID, vp: 0)
        _ = partition.writeMSR(SyntheticMSR.hypercall.rawValue, value: Self.hypercallPage | 1, vp: 0)
    }

    /// Linux's hv_synic_enable_regs() on `vp`: SIMP, SIEFP, SINT2 = 0xF3 unmasked, SCONTROL.
    func enableSynIC(vp: Int) {
        _ = partition.writeMSR(SyntheticMSR.simp.rawValue, value: Self.simp(vp) | 1, vp: vp)
        _ = partition.writeMSR(SyntheticMSR.siefp.rawValue, value: Self.siefp(vp) | 1, vp: vp)
        _ = partition.writeMSR(SyntheticMSR.sint0.rawValue + 2, value: 0xF3, vp: vp)
        _ = partition.writeMSR(SyntheticMSR.scontrol.rawValue, value: 1, vp: vp)
    }

    /// A hypercall with the page enabled, returning the decoded RAX.
    func call(_ control: HypercallControl, rdx: UInt64 = 0, r8: UInt64 = 0, vp: Int = 0) -> HypercallResult {
        HypercallResult(rawValue: partition.handleHypercall(rcx: control.rawValue, rdx: rdx, r8: r8, vp: vp))
    }

    /// Slot `sint` of `vp`'s message page.
    func slot(vp: Int, sint: Int) throws -> [UInt8] {
        try memory.read(at: GuestPhysicalAddress(Self.simp(vp) + UInt64(sint * 256)), count: 256)
    }

    /// What Linux does after handling a slot: cmpxchg the type to NONE, then EOM if pending.
    /// Returns the message it consumed, if any.
    @discardableResult
    func guestConsume(vp: Int, sint: Int) throws -> [UInt8]? {
        let address = GuestPhysicalAddress(Self.simp(vp) + UInt64(sint * 256))
        let type = try memory.atomicLoad32(at: address)
        guard type != 0 else { return nil }
        let copy = try memory.read(at: address, count: 256)
        guard try memory.compareExchange32(expected: type, desired: 0, at: address) == type else { return nil }
        if try memory.read(at: address.advanced(by: 5) ?? address, count: 1)[0] & 1 != 0 {
            _ = partition.writeMSR(SyntheticMSR.eom.rawValue, value: 0, vp: vp)
        }
        return copy
    }
}
