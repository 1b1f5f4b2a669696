import Dispatch
import GuestMemory
import Logging
import Synchronization

/// An open channel: the endpoint plus the machinery that drains the guest → host ring on the
/// device's queue.
///
/// ## Concurrency model
/// `signal()` may be called from any vCPU thread (HvSignalEvent). It schedules at most one drain
/// at a time on the device's serial queue (an atomic flag coalesces event storms). The drain
/// copies packets out under the endpoint's lock and calls the device without it.
final class ActiveChannel: Sendable {
    let endpoint: ChannelEndpoint
    let device: any VMBusDevice
    let queue: DispatchQueue
    let logger: Logger
    /// Packets delivered per lock hold, so a busy guest cannot starve senders.
    static let batchSize = 64
    private let drainScheduled = Atomic<Bool>(false)

    init(endpoint: ChannelEndpoint, device: any VMBusDevice, queue: DispatchQueue, logger: Logger) {
        self.endpoint = endpoint
        self.device = device
        self.queue = queue
        self.logger = logger
        endpoint.faultHandler.withLock { $0 = { [weak self] in self?.fault() } }
    }

    /// A send found the host → guest ring corrupt: close the channel on the device's queue.
    private func fault() {
        queue.async {
            guard self.endpoint.close() else { return }
            self.logger.warning("vmbus: relid \(self.endpoint.relID): host → guest ring corrupt; closing channel")
            self.device.closed(channel: self.endpoint)
        }
    }

    /// The guest signalled the channel: new packets, or space freed in the host → guest ring.
    func signal() {
        if drainScheduled.exchange(true, ordering: .acquiringAndReleasing) { return }
        queue.async { self.drain() }
    }

    private enum Batch {
        case packets([VMBusPacket], signalGuest: Bool, spaceFreed: Bool)
        case closed
        case corrupt(RingError)
    }

    private func drain() {
        drainScheduled.store(false, ordering: .releasing)
        while true {
            let batch = readBatch()
            switch batch {
            case .closed:
                return
            case .corrupt(let error):
                logger.warning("vmbus: relid \(endpoint.relID): guest → host ring corrupt (\(error)); closing channel")
                if endpoint.close() { device.closed(channel: endpoint) }
                return
            case .packets(let packets, let signalGuest, let spaceFreed):
                if signalGuest {
                    endpoint.port.signalEvent(vp: endpoint.targetVP, sint: endpoint.sint, flag: endpoint.relID)
                }
                if spaceFreed { device.sendSpaceAvailable(channel: endpoint) }
                for packet in packets { device.packetReceived(packet, channel: endpoint) }
                if packets.isEmpty { return }
            }
        }
    }

    /// Reads up to `batchSize` packets with the host's interrupt mask set; when the ring is
    /// empty, clears the mask and re-checks (Linux `hv_end_read`) so no signal is lost.
    private func readBatch() -> Batch {
        endpoint.state.withLock { state -> Batch in
            guard state.open else { return .closed }
            do throws(RingError) {
                var spaceFreed = false
                if state.waitingForSpace, try state.writer.bytesFree() > 0 {
                    // The device retries its send; if it still does not fit, the flag is set again.
                    state.waitingForSpace = false
                    try state.writer.clearPendingSendSize()
                    spaceFreed = true
                }
                let start = state.reader.readIndex
                try state.reader.setInterruptMask(true)
                var packets: [VMBusPacket] = []
                while packets.count < Self.batchSize, let packet = try state.reader.next() { packets.append(packet) }
                var signalGuest = false
                if !packets.isEmpty { signalGuest = try state.reader.publish(readSince: start) }
                if packets.count < Self.batchSize {
                    try state.reader.setInterruptMask(false)
                    GuestMemory.fence()
                    if try state.reader.bytesAvailable() > 0, packets.isEmpty {
                        // Raced with a guest write after the mask cleared: read it now.
                        try state.reader.setInterruptMask(true)
                        while packets.count < Self.batchSize, let packet = try state.reader.next() { packets.append(packet) }
                        signalGuest = try state.reader.publish(readSince: start) || signalGuest
                    }
                }
                return .packets(packets, signalGuest: signalGuest, spaceFreed: spaceFreed)
            } catch {
                // `close()` below flips `open`, so `closed` is delivered exactly once.
                return .corrupt(error)
            }
        }
    }
}
