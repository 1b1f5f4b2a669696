import Logging
import Synchronization
import VMBus

/// What an IC channel delivers to its service after framing is checked.
enum ICEvent: Sendable {
    /// The guest accepted these versions.
    case negotiated(framework: ICVersion, message: ICVersion)
    /// The guest supports none of the offered versions.
    case negotiationFailed
    /// A response to a service message: its header and the data after `ICMSG_HDR`.
    case response(ICMessageHeader, [UInt8])
}

/// The IC framework on one channel, shared by every integration service: the host sends the
/// negotiate request when the channel opens, the guest answers in the same buffer, then the
/// service's requests and the guest's responses follow (protocol doc §11).
///
/// ## Concurrency model
/// Thread-safe: state in a `Mutex`. `opened`/`handle`/`closed` come from the device's queue;
/// `send` may come from any thread (VMM requests, timers).
final class ICEngine: Sendable {
    /// Framework versions offered (OpenVMM sends 1.0 and 3.0).
    static let frameworkVersions = [ICVersion(1, 0), ICVersion(3, 0)]

    struct State: Sendable {
        var endpoint: ChannelEndpoint?
        var negotiated: (framework: ICVersion, message: ICVersion)?
        var nextTransaction: UInt64 = 1
    }

    let name: String
    let messageVersions: [ICVersion]
    let logger: Logger
    let state = Mutex(State())

    init(name: String, messageVersions: [ICVersion], logger: Logger) {
        self.name = name
        self.messageVersions = messageVersions
        self.logger = logger
    }

    /// The versions the guest picked, once negotiated.
    var negotiated: (framework: ICVersion, message: ICVersion)? { state.withLock { $0.negotiated } }

    /// Starts the exchange: sends the negotiate request.
    func opened(_ endpoint: ChannelEndpoint) {
        let transactionID = state.withLock { state in
            state.endpoint = endpoint
            state.negotiated = nil
            defer { state.nextTransaction += 1 }
            return state.nextTransaction
        }
        let data = ICNegotiate(frameworkVersions: Self.frameworkVersions, messageVersions: messageVersions).encode()
        let header = ICMessageHeader(
            frameworkVersion: ICVersion(1, 0), messageType: .negotiate, messageVersion: ICVersion(1, 0),
            messageSize: UInt16(data.count), flags: [.transaction, .request])
        do { try endpoint.sendInband(header.encodePacket(data: data), transactionID: transactionID) } catch {
            logger.warning("\(name): negotiate not sent: \(error)")
        }
    }

    func closed() {
        state.withLock { state in
            state.endpoint = nil
            state.negotiated = nil
        }
    }

    /// Sends a service request; the header carries the negotiated versions.
    /// - Throws: `ICError.notNegotiated` before negotiation, `ICError.channel` when the ring refuses.
    func send(_ type: ICMessageType, data: [UInt8]) throws(ICError) {
        let (endpoint, versions, transactionID) = state.withLock { state in
            defer { state.nextTransaction += 1 }
            return (state.endpoint, state.negotiated, state.nextTransaction)
        }
        guard let endpoint, let versions else { throw .notNegotiated }
        let header = ICMessageHeader(
            frameworkVersion: versions.framework, messageType: type, messageVersion: versions.message,
            messageSize: UInt16(data.count), transactionID: UInt8(truncatingIfNeeded: transactionID),
            flags: [.transaction, .request])
        do { try endpoint.sendInband(header.encodePacket(data: data), transactionID: transactionID) } catch {
            throw .channel(error)
        }
    }

    /// Checks a guest packet's framing; returns what it means for the service, or `nil` for
    /// packets to ignore (logged).
    func handle(_ packet: VMBusPacket) -> ICEvent? {
        guard packet.type == .dataInband else {
            logger.debug("\(name): ignoring packet type \(packet.type.rawValue)")
            return nil
        }
        let reader = WireReader(Array(packet.payload))
        let header: ICMessageHeader
        do { header = try ICMessageHeader.decode(reader) } catch {
            logger.warning("\(name): short IC packet (\(reader.count) bytes)")
            return nil
        }
        guard header.flags.contains(.response) else {
            logger.warning("\(name): guest sent a request; only responses are expected")
            return nil
        }
        if header.messageType == .negotiate {
            return negotiationResult(reader)
        }
        guard negotiated != nil else {
            logger.warning("\(name): response before negotiation")
            return nil
        }
        let data = Array(reader.bytes.dropFirst(ICLayout.dataOffset))
        return .response(header, data)
    }

    private func negotiationResult(_ reader: WireReader) -> ICEvent {
        do {
            let answer = try ICNegotiate.decode(reader, at: ICLayout.dataOffset)
            guard answer.frameworkVersions.count == 1, answer.messageVersions.count == 1,
                let framework = answer.frameworkVersions.first, let message = answer.messageVersions.first,
                Self.frameworkVersions.contains(framework), messageVersions.contains(message)
            else {
                logger.info("\(name): guest accepted no offered version")
                return .negotiationFailed
            }
            state.withLock { $0.negotiated = (framework, message) }
            logger.info("\(name): negotiated framework \(framework), service \(message)")
            return .negotiated(framework: framework, message: message)
        } catch {
            logger.warning("\(name): malformed negotiate response: \(error)")
            return .negotiationFailed
        }
    }
}

/// Why an integration-service request was refused.
public enum ICError: Error, Equatable, Sendable {
    /// The channel is not open or the guest has not finished negotiation.
    case notNegotiated
    /// The channel refused the packet.
    case channel(ChannelError)
    /// The request does not fit the message format.
    case invalidArgument(String)
}
