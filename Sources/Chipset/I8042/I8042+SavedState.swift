/// The i8042's saved state: controller RAM (CTR included), output port, the output queue, the
/// pending-write latch and the keyboard's scanning state.
public struct I8042State: Codable, Sendable, Hashable {
    /// One byte waiting in the output buffer: its value, 0 keyboard / 1 aux, and TIMEOUT.
    public struct QueuedByte: Codable, Sendable, Hashable {
        public var value: UInt8
        public var aux: Bool
        public var timedOut: Bool
    }
    public var ram: [UInt8]
    public var outputPort: UInt8
    public var queue: [QueuedByte]
    public var lastRead: UInt8
    public var lastWasCommand: Bool
    /// What the next write to port 0x60 means: kind 0 keyboard command, 1 RAM (argument =
    /// index), 2 output port, 3 keyboard output, 4 aux output, 5 aux device, 6 keyboard
    /// parameter (argument = command). Unknown kinds restore as 0.
    public var pendingKind: UInt8
    public var pendingArgument: UInt8
    public var keyboardScanning: Bool
    public var lastKeyboardReply: UInt8
}

extension I8042 {
    public func captureState() -> I8042State {
        state.withLock { s in
            let (kind, argument): (UInt8, UInt8) =
                switch s.pending {
                case .keyboardCommand: (0, 0)
                case .ram(let index): (1, index)
                case .outputPort: (2, 0)
                case .keyboardOutput: (3, 0)
                case .auxOutput: (4, 0)
                case .auxDevice: (5, 0)
                case .keyboardParameter(let command): (6, command)
                }
            return I8042State(
                ram: s.ram, outputPort: s.outputPort,
                queue: s.queue.elements.map { .init(value: $0.value, aux: $0.source == .aux, timedOut: $0.timedOut) },
                lastRead: s.lastRead, lastWasCommand: s.lastWasCommand, pendingKind: kind, pendingArgument: argument,
                keyboardScanning: s.keyboardScanning, lastKeyboardReply: s.lastKeyboardReply)
        }
    }

    /// Restores a captured state; bytes beyond the output queue's depth are dropped.
    /// - Throws: `ChipsetStateError` when the saved RAM is not 32 bytes.
    public func restoreState(_ saved: I8042State) throws(ChipsetStateError) {
        guard saved.ram.count == 32 else { throw ChipsetStateError("saved i8042 RAM has \(saved.ram.count) bytes, not 32") }
        state.withLock { s in
            s.ram = saved.ram
            s.outputPort = saved.outputPort
            s.queue.removeAll()
            for b in saved.queue {
                if !s.queue.push(OutputByte(value: b.value, source: b.aux ? .aux : .keyboard, timedOut: b.timedOut)) { break }
            }
            s.lastRead = saved.lastRead
            s.lastWasCommand = saved.lastWasCommand
            s.pending =
                switch saved.pendingKind {
                case 1: .ram(index: saved.pendingArgument & 0x1f)
                case 2: .outputPort
                case 3: .keyboardOutput
                case 4: .auxOutput
                case 5: .auxDevice
                case 6: .keyboardParameter(command: saved.pendingArgument)
                default: .keyboardCommand
                }
            s.keyboardScanning = saved.keyboardScanning
            s.lastKeyboardReply = saved.lastKeyboardReply
            updateInterrupts(&s)
        }
    }
}
