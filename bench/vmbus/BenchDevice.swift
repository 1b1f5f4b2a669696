import Dispatch
import Synchronization
import VMBus

/// The host-side channel device of the ring bench: counts what the guest sends (guest → host)
/// and lends its endpoint to the host-side sender (host → guest).
final class BenchDevice: VMBusDevice {
    let offer: ChannelOfferInfo
    let endpoint = Mutex<ChannelEndpoint?>(nil)
    let receivedPackets = Atomic<Int>(0)
    let receivedBytes = Atomic<Int>(0)
    let badPayloads = Atomic<Int>(0)
    /// Signalled when `receivedPackets` reaches `expectedPackets`.
    let done = DispatchSemaphore(value: 0)
    let expectedPackets = Atomic<Int>(Int.max)
    /// Signalled on `sendSpaceAvailable`.
    let space = DispatchSemaphore(value: 0)

    init(instance: UInt8) {
        let classID = GUID("44c4f61d-4444-4400-9d52-802e27ede19f") ?? .zero
        var bytes = (GUID("ba6163d9-04a1-4d29-b605-72e2ffb1dc00") ?? .zero).wireBytes
        bytes[15] = instance
        offer = ChannelOfferInfo(classID: classID, instanceID: GUID(wireBytes: bytes))
    }

    func opened(channel: ChannelEndpoint) { endpoint.withLock { $0 = channel } }

    func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        let payload = packet.payload
        if payload.first != BenchPattern.first || payload.last != BenchPattern.last { badPayloads.add(1, ordering: .relaxed) }
        receivedBytes.add(payload.count, ordering: .relaxed)
        let n = receivedPackets.add(1, ordering: .relaxed).newValue
        if n == expectedPackets.load(ordering: .relaxed) { done.signal() }
    }

    func sendSpaceAvailable(channel: ChannelEndpoint) { space.signal() }

    func closed(channel: ChannelEndpoint) { endpoint.withLock { $0 = nil } }

    func reset(expecting packets: Int) {
        receivedPackets.store(0, ordering: .relaxed)
        receivedBytes.store(0, ordering: .relaxed)
        badPayloads.store(0, ordering: .relaxed)
        expectedPackets.store(packets, ordering: .relaxed)
    }
}

/// Payloads start with 0xA5 and end with 0x5A, so both sides can spot a misplaced copy cheaply.
enum BenchPattern {
    static let first: UInt8 = 0xA5
    static let last: UInt8 = 0x5A
    static func payload(_ size: Int) -> [UInt8] {
        var p = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        if size > 0 {
            p[0] = first
            p[size - 1] = last
        }
        return p
    }
}
