/// The `hv vm console` escape: Ctrl-] q detaches (the VM keeps running); Ctrl-] Ctrl-] sends
/// one Ctrl-]; Ctrl-] followed by anything else sends both bytes. A pure state machine, so it is
/// unit-tested without a terminal.
public struct ConsoleDetach: Sendable {
    public static let escapeByte: UInt8 = 0x1D
    private var armed = false
    public init() {}

    /// The bytes to send to the guest, and whether the user asked to detach (bytes after the
    /// detach request are dropped).
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> (forward: [UInt8], detach: Bool) {
        var out: [UInt8] = []
        for byte in bytes {
            if armed {
                armed = false
                if byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") { return (out, true) }
                if byte != Self.escapeByte { out.append(Self.escapeByte) }
                out.append(byte)
            } else if byte == Self.escapeByte {
                armed = true
            } else {
                out.append(byte)
            }
        }
        return (out, false)
    }
}
