import GuestMemory
import HyperV
import Testing
import VMBus
import VMBusTestSupport
import TestSupport


@Suite struct FuzzTests {
    /// Thousands of random and mutated guest → host messages, signals and ring packets. The host
    /// must never crash or hang, every message it posts must fit a SynIC slot, and afterwards a
    /// well-behaved guest must still be served.
    @Test(arguments: [UInt64(1), 0xC0FFEE, 0x5EED_2026])
    func randomGuestTraffic(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let h = Harness(memoryMiB: 4)
        let devices = (1...3).map { EchoDevice(instance: UInt8($0)) }
        for device in devices { try h.host.addDevice(device) }
        var offers = h.connect()
        var channels: [GuestChannel] = offers.prefix(2).compactMap { h.guest.open(offer: $0).0 }
        let valid = HostileGuestTests.templates() + [Self.validGPADLHeader(relid: 1), Self.validOpen(relid: 2)]

        for iteration in 0..<4000 {
            switch rng.next() % 8 {
            case 0:
                // Pure noise with a plausible type.
                let length = Int(rng.next() % 241)
                var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if length >= 4 { bytes[0] = UInt8(rng.next() % 26) }
                if length >= 4 { bytes[1] = 0; bytes[2] = 0; bytes[3] = 0 }
                _ = h.guest.post(bytes, connectionID: rng.next() % 4 == 0 ? 4 : 1)
            case 1, 2:
                // A valid message with a few bytes flipped, maybe truncated or extended.
                var bytes = valid[Int(rng.next() % UInt64(valid.count))]
                for _ in 0..<(1 + rng.next() % 4) where bytes.count > 8 {
                    bytes[8 + Int(rng.next() % UInt64(bytes.count - 8))] = UInt8.random(in: 0...255, using: &rng)
                }
                if rng.next() % 4 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1)))) }
                if rng.next() % 8 == 0 { bytes += (0..<Int(rng.next() % 64)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
                _ = h.guest.post(Array(bytes.prefix(240)))
            case 3:
                _ = h.host.signalEvent(
                    connectionID: 0x2000 + UInt32(rng.next() % 6), flagNumber: UInt16(rng.next() % 3), vp: 0)
            case 4, 5:
                // Packets, well-formed or garbage, into an open channel's ring.
                guard let channel = channels.randomElement(using: &rng) else { continue }
                if rng.next() % 3 == 0 {
                    let length = 8 * Int(1 + rng.next() % 16)
                    let garbage = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    channel.sendRaw(garbage, advance: Int(rng.next() % 4) * 8 + 24)
                } else {
                    let payload = (0..<Int(rng.next() % 300)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    channel.send(flags: UInt16(rng.next() % 2), transactionID: rng.next(), payload: payload)
                }
            case 6:
                // Guest scribbles a shared index.
                guard let channel = channels.randomElement(using: &rng) else { continue }
                let ring = rng.next() % 2 == 0 ? channel.inbound : channel.outbound
                ring.setField(UInt64(rng.next() % 4) * 4, UInt32(truncatingIfNeeded: rng.next()))
            default:
                // Occasionally rebuild a sane state so deep paths keep being reached.
                if rng.next() % 16 == 0 {
                    _ = h.guest.unload()
                    offers = h.connect()
                    channels = offers.prefix(2).compactMap { h.guest.open(offer: $0).0 }
                }
            }
            if iteration % 256 == 0 { h.host.waitForIdle() }
            _ = h.synic.takeMessages()
            _ = h.synic.takeEvents()
            for channel in channels { _ = channel.receive() }
        }
        h.host.waitForIdle()

        // A fresh, well-behaved guest still gets served.
        _ = h.guest.unload()
        let fresh = h.connect()
        #expect(fresh.count == 3)
        let last = try #require(fresh.last)
        let channel = try #require(h.guest.open(offer: last).0)
        channel.send(transactionID: 77, payload: [7, 7])
        h.host.waitForIdle()
        #expect(channel.receive().first?.transactionID == 77)
    }

    static func validGPADLHeader(relid: UInt32) -> [UInt8] {
        var m = Bytes(count: 28 + 16)
        m.put(UInt32(8), at: 0)
        m.put(relid, at: 8)
        m.put(UInt32(0xE1E10), at: 12)
        m.put(UInt16(24), at: 16)
        m.put(UInt16(1), at: 18)
        m.put(UInt32(8192), at: 20)
        m.put(UInt64(0x300), at: 28)
        m.put(UInt64(0x301), at: 36)
        return m.data
    }

    static func validOpen(relid: UInt32) -> [UInt8] {
        var m = Bytes(count: 148)
        m.put(UInt32(5), at: 0)
        m.put(relid, at: 8)
        m.put(relid, at: 12)
        m.put(UInt32(0xE1E10), at: 16)
        m.put(UInt32(1), at: 24)
        return m.data
    }
}
