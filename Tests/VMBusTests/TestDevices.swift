import GuestMemory
import HyperV
import Synchronization
import VMBus
import VMBusTestSupport

/// A channel device that records what happens and echoes in-band packets back (as a completion
/// when one was requested).
final class EchoDevice: VMBusDevice {
    let offer: ChannelOfferInfo
    let echo: Bool
    struct Log: Sendable {
        var opened = 0
        var closed = 0
        var packets: [VMBusPacket] = []
        var spaceAvailable = 0
        var endpoint: ChannelEndpoint?
    }
    let log = Mutex(Log())

    init(instance: UInt8, echo: Bool = true, maxPacket: Int = 64 * 1024) {
        let classID = GUID("44c4f61d-4444-4400-9d52-802e27ede19f") ?? .zero
        var bytes = (GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dc00") ?? .zero).wireBytes
        bytes[15] = instance
        offer = ChannelOfferInfo(classID: classID, instanceID: GUID(wireBytes: bytes), maxIncomingPacketSize: maxPacket)
        self.echo = echo
    }

    func opened(channel: ChannelEndpoint) {
        log.withLock {
            $0.opened += 1
            $0.endpoint = channel
        }
    }

    func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        log.withLock { $0.packets.append(packet) }
        guard echo else { return }
        if packet.completionRequested {
            try? channel.sendCompletion(transactionID: packet.transactionID, payload: Array(packet.payload))
        } else {
            try? channel.sendInband(Array(packet.payload), transactionID: packet.transactionID)
        }
    }

    func sendSpaceAvailable(channel: ChannelEndpoint) { log.withLock { $0.spaceAvailable += 1 } }

    func closed(channel: ChannelEndpoint) { log.withLock { $0.closed += 1 } }

    var snapshot: Log { log.withLock { $0 } }
}

/// A host, its fake SynIC, guest memory and a guest driver, wired together.
struct Harness {
    let memory: GuestMemory
    let synic = FakeSynIC()
    let host: VMBusHost
    let guest: GuestDriver

    init(memoryMiB: UInt64 = 8, configuration: VMBusHostConfiguration = .init(vpCount: 2), memory: GuestMemory? = nil) {
        self.memory = memory ?? GuestMemory.heapBacked(size: memoryMiB << 20)
        let memory = self.memory
        host = VMBusHost(memory: memory, port: synic, configuration: configuration)
        guest = GuestDriver(host: host, synic: synic, memory: memory)
    }

    /// Negotiates and requests offers; returns the offers.
    func connect() -> [GuestOffer] {
        _ = guest.negotiate()
        return guest.requestOffers().offers
    }
}
