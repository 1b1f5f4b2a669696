/// The contracts between the SynIC/hypercall emulation (this target) and the VMBus host above it.
/// VMBus depends on these protocols only, so it is tested with in-process doubles.

/// A Hyper-V hypercall status code (TLFS "HV_STATUS"). Open: unknown values are representable.
public struct HvStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let success = HvStatus(rawValue: 0x0000)
    public static let invalidHypercallCode = HvStatus(rawValue: 0x0002)
    public static let invalidHypercallInput = HvStatus(rawValue: 0x0003)
    public static let invalidAlignment = HvStatus(rawValue: 0x0004)
    public static let invalidParameter = HvStatus(rawValue: 0x0005)
    public static let accessDenied = HvStatus(rawValue: 0x0006)
    public static let invalidPartitionState = HvStatus(rawValue: 0x0007)
    public static let operationDenied = HvStatus(rawValue: 0x0008)
    public static let insufficientMemory = HvStatus(rawValue: 0x000B)
    public static let invalidVPIndex = HvStatus(rawValue: 0x000E)
    public static let invalidPortID = HvStatus(rawValue: 0x0011)
    public static let invalidConnectionID = HvStatus(rawValue: 0x0012)
    public static let insufficientBuffers = HvStatus(rawValue: 0x0013)
    public var description: String { "HV_STATUS 0x" + String(rawValue, radix: 16) }
}

/// Host → guest: what a VMBus host asks of the SynIC.
public protocol SynICMessagePort: Sendable {
    /// Queues a message (at most 240 payload bytes) for `vp`'s message page slot `sint`.
    /// Delivery happens later on that vCPU's thread, outside KVM_RUN (the slot protocol needs it:
    /// see the protocol doc, risk R7); messages to one (vp, sint) keep their order.
    func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8])
    /// Sets event flag `flag` in `vp`'s event-flags page for `sint`, and interrupts the guest
    /// when the flag was clear.
    func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32)
}

/// Guest → host: the message hypercalls a VMBus host answers.
public protocol HypercallMessageHandler: Sendable {
    /// HvPostMessage (0x005C) from the guest, already validated for size (payload ≤ 240 bytes).
    func postMessage(connectionID: UInt32, messageType: UInt32, payload: [UInt8], vp: UInt32) -> HvStatus
    /// HvSignalEvent (0x005D, fast) from the guest.
    func signalEvent(connectionID: UInt32, flagNumber: UInt16, vp: UInt32) -> HvStatus
}
