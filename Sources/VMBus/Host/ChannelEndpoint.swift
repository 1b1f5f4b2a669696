import Dispatch
import GuestMemory
import HyperV
import Synchronization

/// Why a send on a channel was refused.
public enum ChannelError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The channel is not open (closed, rescinded, unloaded, or its ring was found corrupt).
    case closed
    /// The host → guest ring has no room now; `sendSpaceAvailable` follows when it has.
    case ringFull
    /// The packet can never fit the ring or the 16-bit length field.
    case packetTooLarge
    public var description: String {
        switch self {
        case .closed: "channel closed"
        case .ringFull: "ring full"
        case .packetTooLarge: "packet too large"
        }
    }
}

/// The device's handle on an open channel: sends packets into the host → guest ring and signals
/// the guest, and gives access to guest memory for GPA-direct transfers.
///
/// ## Concurrency model
/// Thread-safe. Ring state (both directions) lives in a `Mutex`; every ring access happens with
/// it held, so once the host marks the endpoint closed no thread touches the ring pages again
/// (what GPADL_TORNDOWN promises the guest).
public final class ChannelEndpoint: Sendable {
    /// The channel's relid (also its event flag number in the guest's SIEFP).
    public let relID: UInt32
    /// The connection id the guest signals (HvSignalEvent) for this channel.
    public let connectionID: UInt32
    /// The guest's RAM, for GPA-direct and GPADL transfers.
    public let memory: GuestMemory

    struct State: Sendable {
        var writer: RingWriter
        var reader: RingReader
        var targetVP: UInt32
        var open = true
        var waitingForSpace = false
    }

    let state: Mutex<State>
    /// Called (outside the lock) when a send finds the ring corrupt, so the channel gets closed
    /// and its device told on the device's queue.
    let faultHandler = Mutex<(@Sendable () -> Void)?>(nil)
    let port: any SynICMessagePort
    /// The SINT channel events go to.
    let sint: UInt8

    init(
        relID: UInt32, connectionID: UInt32, memory: GuestMemory, writer: RingWriter, reader: RingReader,
        targetVP: UInt32, port: any SynICMessagePort, sint: UInt8
    ) {
        self.relID = relID
        self.connectionID = connectionID
        self.memory = memory
        self.port = port
        self.sint = sint
        state = Mutex(State(writer: writer, reader: reader, targetVP: targetVP))
    }

    /// Whether the channel is still open.
    public var isOpen: Bool { state.withLock { $0.open } }

    /// The VP the guest wants this channel's interrupts on.
    public var targetVP: UInt32 { state.withLock { $0.targetVP } }

    /// Sends an in-band data packet (`VM_PKT_DATA_INBAND`).
    /// - Throws: `ChannelError`.
    public func sendInband(_ payload: [UInt8], transactionID: UInt64, completionRequested: Bool = false) throws(ChannelError) {
        try send(
            type: .dataInband, flags: completionRequested ? PacketDescriptor.completionRequested : 0,
            transactionID: transactionID, payload: payload)
    }

    /// Sends a completion (`VM_PKT_COMP`) echoing the guest's transaction id.
    public func sendCompletion(transactionID: UInt64, payload: [UInt8]) throws(ChannelError) {
        try send(type: .completion, flags: 0, transactionID: transactionID, payload: payload)
    }

    /// Sends any packet: `header` goes between the descriptor and the payload (its length plus 16
    /// must be a multiple of 8), e.g. a transfer-page header.
    public func send(
        type: VMBusPacketType, flags: UInt16, transactionID: UInt64, header: [UInt8] = [], payload: [UInt8]
    ) throws(ChannelError) {
        guard
            let packet = VMBusPacket.layout(
                type: type, flags: flags, transactionID: transactionID, header: header, payload: payload)
        else { throw .packetTooLarge }
        let outcome: Result<(signal: Bool, vp: UInt32), SendFailure> = state.withLock { state in
            guard state.open else { return .failure(.refused(.closed)) }
            do throws(RingError) {
                let signal = try state.writer.write(packet)
                return .success((signal, state.targetVP))
            } catch {
                switch error {
                case .full:
                    state.waitingForSpace = true
                    return .failure(.refused(.ringFull))
                case .packetTooLarge:
                    return .failure(.refused(.packetTooLarge))
                case .corrupt, .memory:
                    // The guest broke its side of the ring: the fault handler closes the channel.
                    return .failure(.ringFault)
                }
            }
        }
        switch outcome {
        case .success(let result):
            if result.signal { port.signalEvent(vp: result.vp, sint: sint, flag: relID) }
        case .failure(.ringFault):
            faultHandler.withLock { $0 }?()
            throw .closed
        case .failure(.refused(let error)):
            throw error
        }
    }

    private enum SendFailure: Error {
        case refused(ChannelError)
        /// The guest corrupted the ring; surfaces to callers as `closed`.
        case ringFault
    }

    /// Marks the endpoint closed; from then on no ring page is touched.
    /// - Returns: whether it was open.
    @discardableResult
    func close() -> Bool {
        faultHandler.withLock { $0 = nil }
        return state.withLock { state in
            defer { state.open = false }
            return state.open
        }
    }

    func setTargetVP(_ vp: UInt32) { state.withLock { $0.targetVP = vp } }
}
