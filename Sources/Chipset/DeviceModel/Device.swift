import GuestMemory

/// A device reachable through x86 port I/O. `offset` is relative to the base of the range the
/// device was registered at, so one model serves any base (COM1 and COM2 alike).
///
/// Devices are `Sendable` classes guarding their state with a `Mutex`: vCPU threads and host
/// threads (console input, timers) both call them.
public protocol PortIODevice: AnyObject, Sendable {
    /// A short name for logs ("serial0", "rtc").
    var name: String { get }
    func ioRead(offset: UInt16, width: AccessWidth) -> UInt64
    func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64)
}

/// A device reachable through memory-mapped I/O. `offset` is relative to the registered base.
public protocol MMIODevice: AnyObject, Sendable {
    var name: String { get }
    func mmioRead(offset: UInt64, width: AccessWidth) -> UInt64
    func mmioWrite(offset: UInt64, width: AccessWidth, value: UInt64)
}

/// An interrupt line into the platform's interrupt controller (an IOAPIC/PIC pin).
public protocol InterruptLine: Sendable {
    /// Sets the level of a level-triggered line (or raises/lowers an edge).
    func setLevel(_ asserted: Bool)
}

extension InterruptLine {
    /// One edge: assert, then deassert (edge-triggered ISA interrupts).
    public func pulse() {
        setLevel(true)
        setLevel(false)
    }
}

/// Why the platform asks the VM to stop. Devices request it; the VMM acts on it.
public enum PlatformStopRequest: Sendable, Hashable, CustomStringConvertible {
    /// The guest powered off (ACPI sleep state S5).
    case powerOff
    /// The guest asked for a reset (i8042 pulse, ACPI reset register, triple fault).
    case reset
    public var description: String {
        switch self {
        case .powerOff: "power off"
        case .reset: "reset"
        }
    }
}

/// How devices reach the VM for power-state changes.
public protocol PlatformControl: Sendable {
    func requestStop(_ request: PlatformStopRequest)
}
