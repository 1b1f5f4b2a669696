import Chipset

/// Why a machine stopped running.
public enum StopReason: Sendable, Hashable, CustomStringConvertible {
    /// The guest powered off (ACPI S5, a system event).
    case powerOff
    /// The guest asked for a reset or triple-faulted; the caller rebuilds and restarts the VM.
    case reset
    /// The host asked the machine to stop (`Machine.requestStop()`).
    case stopRequested
    /// The VM cannot go on; the message names the vCPU, RIP and cause.
    case error(String)
    /// The VM's state was saved to this file (Save-VM); starting from it continues the guest.
    case saved(path: String)

    public init(_ request: PlatformStopRequest) {
        switch request {
        case .powerOff: self = .powerOff
        case .reset: self = .reset
        }
    }

    public var description: String {
        switch self {
        case .powerOff: "power off"
        case .reset: "reset"
        case .stopRequested: "stop requested by the host"
        case .error(let message): "error: \(message)"
        case .saved(let path): "saved to \(path)"
        }
    }
}
