import GuestMemory
import HyperV
import Testing
import VMBus
import VMBusTestSupport

/// A guest that breaks the rules: the host must answer what needs answering, refuse the rest,
/// and keep serving well-behaved channels.
@Suite struct HostileGuestTests {
    /// Guest → host messages at their minimum sizes, used as templates for truncation.
    static func templates() -> [[UInt8]] {
        var list: [[UInt8]] = []
        for (type, size) in [(14, 40), (3, 8), (8, 20), (9, 16), (11, 16), (5, 148), (7, 12), (13, 12), (16, 8), (22, 16), (21, 40)] {
            var m = Bytes(count: size)
            m.put(UInt32(type), at: 0)
            if size > 8 { m.put(UInt32(1), at: 8) }
            list.append(m.data)
        }
        return list
    }

    @Test func truncatedMessagesAreDroppedAndTheHostKeepsWorking() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        for template in Self.templates() {
            for length in 0..<template.count {
                #expect(h.guest.post(Array(template.prefix(length))) == .success)
            }
        }
        // Nothing malformed was answered, and the connection survived.
        #expect(h.guest.replies().isEmpty)
        #expect(h.host.negotiatedVersion == .win10_v5_3)
        // A second REQUESTOFFERS is answered without repeating the offers.
        let again = h.guest.requestOffers()
        #expect(again.offers.isEmpty && again.allDelivered)
        #expect(h.guest.open(offer: offer).0 != nil)
    }

    @Test func unknownAndHostOnlyTypesAreDropped() {
        let h = Harness()
        _ = h.connect()
        for type: UInt32 in [0, 1, 2, 4, 6, 10, 12, 15, 17, 18, 19, 20, 23, 24, 25, 99, 0xFFFF_FFFF] {
            var m = Bytes(count: 64)
            m.put(type, at: 0)
            #expect(h.guest.post(m.data) == .success)
        }
        #expect(h.guest.replies().isEmpty)
        #expect(h.host.negotiatedVersion != nil)
    }

    @Test func messagesBeforeContactAreIgnored() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        #expect(h.guest.requestOffers().offers.isEmpty)
        #expect(!h.guest.unload())
        #expect(h.host.negotiatedVersion == nil)
    }

    @Test func contactWithBadTargetVPOrSINTIsRefused() throws {
        let h = Harness()
        let r = try #require(h.guest.initiateContact(version: 5 << 16 | 3, targetVCPU: 99))
        #expect(!r.supported)
        var m = Bytes(count: 40)
        m.put(UInt32(14), at: 0)
        m.put(UInt32(5 << 16 | 3), at: 8)
        m.put(UInt8(16), at: 16)  // msg_sint out of range
        h.guest.post(m.data, connectionID: 4)
        #expect(h.guest.replies().first?.u8(8) == 0)
        #expect(h.host.negotiatedVersion == nil)
    }

    @Test func badGPADLsAreRefusedWithAnAnswer() throws {
        let h = Harness(memoryMiB: 4)
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        let relid = offer.relid

        func header(buflen: UInt16, rangecount: UInt16, byteCount: UInt32, byteOffset: UInt32 = 0, pfns: [UInt64], relid: UInt32? = nil, handle: UInt32 = 0x100) -> [UInt8] {
            var m = Bytes(count: 28 + 8 * pfns.count)
            m.put(UInt32(8), at: 0)
            m.put(relid ?? offer.relid, at: 8)
            m.put(handle, at: 12)
            m.put(buflen, at: 16)
            m.put(rangecount, at: 18)
            m.put(byteCount, at: 20)
            m.put(byteOffset, at: 24)
            for (i, p) in pfns.enumerated() { m.put(p, at: 28 + 8 * i) }
            return m.data
        }
        func created(_ handle: UInt32 = 0x100) -> UInt32? {
            h.guest.replies().first { $0.u32(0) == 10 && $0.u32(12) == handle }.map { $0.u32(16) }
        }

        // rangecount 0
        h.guest.post(header(buflen: 16, rangecount: 0, byteCount: 4096, pfns: [0x200]))
        #expect(created().map { $0 != 0 } == true)
        // buflen not a multiple of 8
        h.guest.post(header(buflen: 17, rangecount: 1, byteCount: 4096, pfns: [0x200]))
        #expect(created().map { $0 != 0 } == true)
        // byte_count needs 2 pages, buffer carries 1
        h.guest.post(header(buflen: 16, rangecount: 1, byteCount: 8192, pfns: [0x200]))
        #expect(created().map { $0 != 0 } == true)
        // buffer carries 3 PFNs for a 1-page range
        h.guest.post(header(buflen: 32, rangecount: 1, byteCount: 4096, pfns: [0x200, 0x201, 0x202]))
        #expect(created().map { $0 != 0 } == true)
        // byte_offset beyond a page
        h.guest.post(header(buflen: 16, rangecount: 1, byteCount: 10, byteOffset: 5000, pfns: [0x200]))
        #expect(created().map { $0 != 0 } == true)
        // PFN outside RAM (4 MiB = 0x400 pages), and one near 2^64
        h.guest.post(header(buflen: 16, rangecount: 1, byteCount: 4096, pfns: [0x400]))
        #expect(created().map { $0 != 0 } == true)
        h.guest.post(header(buflen: 16, rangecount: 1, byteCount: 4096, pfns: [0xFFFF_FFFF_FFFF_FFFF]))
        #expect(created().map { $0 != 0 } == true)
        // unknown relid
        h.guest.post(header(buflen: 16, rangecount: 1, byteCount: 4096, pfns: [0x200], relid: 999))
        #expect(created().map { $0 != 0 } == true)
        // bodies overflowing the declared buffer
        h.guest.post(header(buflen: 24, rangecount: 1, byteCount: 8192, pfns: [0x200]))
        var body = Bytes(count: 16 + 16)
        body.put(UInt32(9), at: 0)
        body.put(UInt32(0x100), at: 12)
        h.guest.post(body.data)
        #expect(created().map { $0 != 0 } == true)
        // a body for a handle that never had a header: nothing to answer
        body.put(UInt32(0x999), at: 12)
        h.guest.post(body.data)
        #expect(h.guest.replies().isEmpty)

        // A good one, then a duplicate handle: refused without destroying the first.
        let good = h.guest.createGPADL(relid: relid, pages: [0x200, 0x201], handle: 0x100)
        #expect(good.status == 0)
        let duplicate = h.guest.createGPADL(relid: relid, pages: [0x202], handle: 0x100)
        #expect(duplicate.status.map { $0 != 0 } == true)
        #expect(h.host.gpadl(0x100)?.pageNumbers == [0x200, 0x201])
        // Teardown of an unknown handle still gets its TORNDOWN (the guest waits for it).
        #expect(h.guest.teardownGPADL(relid: relid, handle: 0x5555))
    }

    @Test func pendingGPADLsAreCapped() throws {
        let h = Harness(configuration: .init(vpCount: 1, maxPendingGPADLs: 4))
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        var refused = 0
        for handle in UInt32(1)...10 {
            // Headers announcing 100 pages whose bodies never come.
            var m = Bytes(count: 36)
            m.put(UInt32(8), at: 0)
            m.put(offer.relid, at: 8)
            m.put(handle, at: 12)
            m.put(UInt16(8 + 800), at: 16)
            m.put(UInt16(1), at: 18)
            m.put(UInt32(100 * 4096), at: 20)
            m.put(UInt64(0x200), at: 28)
            h.guest.post(m.data)
            refused += h.guest.replies().filter { $0.u32(0) == 10 && $0.u32(16) != 0 }.count
        }
        #expect(refused == 6)
    }

    @Test func badOpenRequestsAreRefused() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        let offers = h.connect()
        let offer = try #require(offers.first)
        let pages = h.guest.allocatePages(4)
        let (handle, status) = h.guest.createGPADL(relid: offer.relid, pages: pages)
        #expect(status == 0)
        func open(relid: UInt32, gpadl: UInt32, split: UInt32, vp: UInt32 = 0) -> UInt32? {
            var m = Bytes(count: 148)
            m.put(UInt32(5), at: 0)
            m.put(relid, at: 8)
            m.put(relid, at: 12)
            m.put(gpadl, at: 16)
            m.put(vp, at: 20)
            m.put(split, at: 24)
            h.guest.post(m.data)
            return h.guest.replies().first { $0.u32(0) == 6 }.map { $0.u32(16) }
        }
        for split: UInt32 in [0, 1, 3, 4, 100] { #expect(open(relid: offer.relid, gpadl: handle, split: split).map { $0 != 0 } == true) }
        #expect(open(relid: offer.relid, gpadl: 0xDEAD, split: 2).map { $0 != 0 } == true)
        #expect(open(relid: 55, gpadl: handle, split: 2).map { $0 != 0 } == true)
        #expect(open(relid: offer.relid, gpadl: handle, split: 2, vp: 5).map { $0 != 0 } == true)
        // Garbage indices in the ring headers.
        try h.memory.store(UInt32(0xFFFF_0000), at: GuestPhysicalAddress(pageNumber: pages[0]))
        #expect(open(relid: offer.relid, gpadl: handle, split: 2).map { $0 != 0 } == true)
        try h.memory.store(UInt32(0), at: GuestPhysicalAddress(pageNumber: pages[0]))
        #expect(open(relid: offer.relid, gpadl: handle, split: 2) == 0)
        // Opening twice is refused; the open channel stays open.
        #expect(open(relid: offer.relid, gpadl: handle, split: 2).map { $0 != 0 } == true)
        #expect(h.host.phase(of: offer.relid) == .open)
    }

    @Test func corruptRingClosesOnlyThatChannel() throws {
        let h = Harness()
        let bad = EchoDevice(instance: 1), good = EchoDevice(instance: 2)
        try h.host.addDevice(bad)
        try h.host.addDevice(good)
        let offers = h.connect()
        let badChannel = try #require(h.guest.open(offer: offers[0]).0)
        let goodChannel = try #require(h.guest.open(offer: offers[1]).0)

        // write_index out of range.
        badChannel.outbound.writeIndex = 0x7FFF_FFF8
        badChannel.signalHost()
        h.host.waitForIdle()
        #expect(bad.snapshot.closed == 1)
        #expect(bad.snapshot.packets.isEmpty)
        // Sends on the dead channel are refused, not written.
        #expect(throws: ChannelError.closed) { try bad.snapshot.endpoint?.sendInband([1], transactionID: 1) }

        goodChannel.send(transactionID: 5, payload: [5])
        h.host.waitForIdle()
        #expect(goodChannel.receive().count == 1)
        // The guest closing the broken channel afterwards is fine.
        h.guest.close(relid: offers[0].relid)
        h.host.waitForIdle()
        #expect(bad.snapshot.closed == 1)
    }

    @Test func corruptReadIndexFoundWhileSendingClosesTheChannel() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1, echo: false)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        h.host.waitForIdle()
        let endpoint = try #require(device.snapshot.endpoint)
        channel.inbound.readIndex = 12  // not 8-aligned
        #expect(throws: ChannelError.closed) { try endpoint.sendInband([1], transactionID: 1) }
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(!endpoint.isOpen)
        h.guest.close(relid: offer.relid)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
    }

    @Test func hostilePacketDescriptorsCloseTheChannel() throws {
        for descriptor in [
            hex("06 00 02 00 ff ff 00 00  00 00 00 00 00 00 00 00"),  // len8 far beyond what was written
            hex("06 00 09 00 02 00 00 00  00 00 00 00 00 00 00 00"),  // offset8 > len8
            hex("06 00 01 00 02 00 00 00  00 00 00 00 00 00 00 00"),  // offset8 inside the descriptor
        ] {
            let h = Harness()
            let device = EchoDevice(instance: 1)
            try h.host.addDevice(device)
            let offer = try #require(h.connect().first)
            let channel = try #require(h.guest.open(offer: offer).0)
            channel.sendRaw(descriptor + [UInt8](repeating: 0, count: 16), advance: 32)
            h.host.waitForIdle()
            #expect(device.snapshot.closed == 1)
            #expect(device.snapshot.packets.isEmpty)
        }
    }

    @Test func oversizedPacketIsRefused() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1, maxPacket: 256)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        channel.send(transactionID: 1, payload: [UInt8](repeating: 0, count: 1000))
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(device.snapshot.packets.isEmpty)
    }

    @Test func eventStormIsCoalesced() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1, echo: false)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer, sendPages: 8, receivePages: 2).0)
        for i in 0..<100 { channel.send(transactionID: UInt64(i), payload: [UInt8(i)]) }
        for _ in 0..<100_000 { _ = h.host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0) }
        // Storms on connection ids that are not channels are refused cheaply.
        for id in UInt32(0)..<5000 { _ = h.host.signalEvent(connectionID: id, flagNumber: 0xFFFF, vp: 7) }
        h.host.waitForIdle()
        #expect(device.snapshot.packets.map(\.transactionID) == (0..<100).map { UInt64($0) })
    }
}
