/// The console's escape sequences, as in `virsh console` / `telnet`: Ctrl-] then a command key.
///   Ctrl-] q   kill the VM (no graceful shutdown)
///   Ctrl-] b   send a serial BREAK (then a key: the guest's magic SysRq)
///   Ctrl-] s   ask the guest for a graceful shutdown
///   Ctrl-] i   print the integration services' state (heartbeat, KVP, ...)
///   Ctrl-] p   pause the guest, or resume it when paused
///   Ctrl-] v   save the VM (Save-VM) to the worker's --save-file, then exit with status 5
///   Ctrl-] ]   send a literal Ctrl-]
/// A pure state machine so it is unit-tested without a terminal.
public struct ConsoleEscape: Sendable {
    public static let escapeByte: UInt8 = 0x1D  // Ctrl-]

    public enum Action: Equatable, Sendable {
        case forward([UInt8])
        case sendBreak
        case kill
        case gracefulShutdown
        case status
        case togglePause
        case save
    }

    private var armed = false
    public init() {}

    /// Splits host input into guest bytes and console commands, in order.
    public mutating func feed(_ bytes: [UInt8]) -> [Action] {
        var actions: [Action] = []
        var pending: [UInt8] = []
        func flush() {
            if !pending.isEmpty { actions.append(.forward(pending)) }
            pending = []
        }
        for byte in bytes {
            if armed {
                armed = false
                switch byte {
                case UInt8(ascii: "q"), UInt8(ascii: "Q"):
                    flush()
                    actions.append(.kill)
                case UInt8(ascii: "b"), UInt8(ascii: "B"):
                    flush()
                    actions.append(.sendBreak)
                case UInt8(ascii: "s"), UInt8(ascii: "S"):
                    flush()
                    actions.append(.gracefulShutdown)
                case UInt8(ascii: "i"), UInt8(ascii: "I"):
                    flush()
                    actions.append(.status)
                case UInt8(ascii: "p"), UInt8(ascii: "P"):
                    flush()
                    actions.append(.togglePause)
                case UInt8(ascii: "v"), UInt8(ascii: "V"):
                    flush()
                    actions.append(.save)
                case Self.escapeByte:
                    pending.append(byte)
                default:
                    pending.append(Self.escapeByte)
                    pending.append(byte)
                }
            } else if byte == Self.escapeByte {
                armed = true
            } else {
                pending.append(byte)
            }
        }
        flush()
        return actions
    }

    public static let helpText =
        "Console: Ctrl-] q kills the VM, Ctrl-] b sends BREAK (SysRq), Ctrl-] s asks for shutdown, Ctrl-] i shows status,  Ctrl-] p pauses/resumes, Ctrl-] v saves the VM (--save-file)."
}
