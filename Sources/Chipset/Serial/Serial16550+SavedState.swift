/// The 16550's saved state: every register, the interrupt latches and the receive FIFO
/// (host input not yet in the FIFO is kept too, up to the FIFO + host buffer bounds).
public struct Serial16550State: Codable, Sendable, Hashable {
    public var ier, lcr, mcr, fcr, scr, dll, dlm, lsrLatched, msrDeltas: UInt8
    public var thrEmptyPending: Bool
    /// Received characters: the byte and whether it is a BREAK, oldest first.
    public var rxFIFO: [SerialCharacter]
    public var hostRX: [SerialCharacter]
}

/// One received character in saved state.
public struct SerialCharacter: Codable, Sendable, Hashable {
    public var byte: UInt8
    public var isBreak: Bool
}

extension Serial16550 {
    /// The current state (consistent: taken under the device lock).
    public func captureState() -> Serial16550State {
        state.withLock { s in
            Serial16550State(
                ier: s.ier, lcr: s.lcr, mcr: s.mcr, fcr: s.fcr, scr: s.scr, dll: s.dll, dlm: s.dlm,
                lsrLatched: s.lsrLatched, msrDeltas: s.msrDeltas, thrEmptyPending: s.thrEmptyPending,
                rxFIFO: s.rxFIFO.elements.map { SerialCharacter(byte: $0.byte, isBreak: $0.isBreak) },
                hostRX: s.hostRX.elements.map { SerialCharacter(byte: $0.byte, isBreak: $0.isBreak) })
        }
    }

    /// Restores a captured state; the interrupt line follows it. Saved characters beyond the
    /// FIFO and host-buffer capacity are dropped (a hostile file cannot grow them).
    public func restoreState(_ saved: Serial16550State) {
        state.withLock { s in
            let asserted = s.irqAsserted
            s = State(hostBufferCapacity: hostBufferCapacity)
            s.irqAsserted = asserted
            s.ier = saved.ier & IER.implemented
            s.lcr = saved.lcr
            s.mcr = saved.mcr & MCR.implemented
            s.fcr = saved.fcr & 0xC9
            s.scr = saved.scr
            s.dll = saved.dll
            s.dlm = saved.dlm
            s.lsrLatched = saved.lsrLatched
            s.msrDeltas = saved.msrDeltas
            s.thrEmptyPending = saved.thrEmptyPending
            for c in saved.rxFIFO.prefix(s.rxCapacity) { s.rxFIFO.push(RXCharacter(byte: c.byte, isBreak: c.isBreak)) }
            for c in saved.hostRX { if !s.hostRX.push(RXCharacter(byte: c.byte, isBreak: c.isBreak)) { break } }
            updateInterrupt(&s)
        }
    }
}
