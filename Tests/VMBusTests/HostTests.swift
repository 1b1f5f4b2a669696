import GuestMemory
import HyperV
import Testing
import VMBus
import VMBusTestSupport

@Suite struct HostTests {
    @Test func negotiatesNewestVersionOnConnectionID4() throws {
        let h = Harness()
        let reply = try #require(h.guest.initiateContact(version: 5 << 16 | 3))
        #expect(reply.supported && reply.connID == 1)
        #expect(h.host.negotiatedVersion == .win10_v5_3)
    }

    @Test func refusesUnknownVersionSoTheGuestFallsBack() throws {
        let h = Harness(configuration: .init(maxVersion: .win10, vpCount: 1))
        // Linux's loop: 5.3 … 4.1 refused, 4.0 accepted on connection id 1.
        #expect(h.guest.negotiate() == 4 << 16)
        #expect(h.host.negotiatedVersion == .win10)
        let refused = try #require(h.guest.initiateContact(version: 6 << 16))
        #expect(!refused.supported)
        #expect(h.host.negotiatedVersion == nil)
    }

    @Test func versionResponseGoesToTargetVCPUAndSINT() throws {
        let h = Harness()
        var m = Bytes(count: 40)
        m.put(UInt32(14), at: 0)
        m.put(UInt32(5 << 16 | 3), at: 8)
        m.put(UInt32(1), at: 12)
        m.put(UInt8(2), at: 16)
        #expect(h.guest.post(m.data, connectionID: 4) == .success)
        let posted = h.synic.takeMessages()
        #expect(posted.count == 1)
        #expect(posted.first?.vp == 1 && posted.first?.sint == 2 && posted.first?.messageType == 1)
    }

    @Test func unknownMessageConnectionIDIsRefused() {
        let h = Harness()
        #expect(h.guest.post([14, 0, 0, 0, 0, 0, 0, 0], connectionID: 7) == .invalidConnectionID)
        #expect(h.host.signalEvent(connectionID: 0x2005, flagNumber: 0, vp: 0) == .invalidPortID)
    }

    @Test func offersEveryDeviceThenAllOffersDelivered() throws {
        let h = Harness()
        let a = EchoDevice(instance: 1), b = EchoDevice(instance: 2)
        let relA = try h.host.addDevice(a), relB = try h.host.addDevice(b)
        _ = h.guest.negotiate()
        let (offers, done) = h.guest.requestOffers()
        #expect(done)
        #expect(offers.map(\.relid) == [relA, relB])
        for offer in offers {
            #expect(offer.dedicatedInterrupt && !offer.monitorAllocated)
            #expect(offer.connectionID == 0x2000 + offer.relid)
            #expect(offer.relid >= 1 && offer.relid <= 2047)
        }
        #expect(offers[0].ifInstance == a.offer.instanceID.wireBytes)
        #expect(offers[1].ifType == b.offer.classID.wireBytes)
        // Hot-add after REQUESTOFFERS is offered at once.
        let c = EchoDevice(instance: 3)
        let relC = try h.host.addDevice(c)
        let hot = h.guest.replies()
        #expect(hot.count == 1 && hot.first?.u32(0) == 1 && hot.first?.u32(184) == relC)
    }

    @Test func multiMessageGPADLIsCreatedAndTornDown() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        // 300 pages: 26 in the header, then 10 bodies of up to 28.
        let pages = h.guest.allocatePages(300)
        let (handle, status) = h.guest.createGPADL(relid: offer.relid, pages: pages)
        #expect(status == 0)
        let gpadl = try #require(h.host.gpadl(handle))
        #expect(gpadl.pageNumbers == pages)
        #expect(h.guest.teardownGPADL(relid: offer.relid, handle: handle))
        #expect(h.host.gpadl(handle) == nil)
    }

    @Test func openSendReceiveAndClose() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let (opened, status) = h.guest.open(offer: offer)
        #expect(status == 0)
        let channel = try #require(opened)
        #expect(h.host.phase(of: offer.relid) == .open)

        #expect(channel.send(transactionID: 42, payload: Array("hello".utf8)))
        h.host.waitForIdle()
        #expect(device.snapshot.opened == 1)
        #expect(device.snapshot.packets.map { Array($0.payload.prefix(5)) } == [Array("hello".utf8)])
        let echoed = channel.receive()
        #expect(echoed.count == 1)
        #expect(echoed.first?.transactionID == 42 && echoed.first?.type == 6)
        #expect(echoed.first.map { Array($0.payload.prefix(5)) } == Array("hello".utf8))
        // The host signalled relid's flag on SINT 2 of the target VP.
        #expect(h.synic.takeEvents().contains(FakeSynIC.Event(vp: 0, sint: 2, flag: offer.relid)))

        // Completion requested → VM_PKT_COMP echoing trans_id.
        channel.send(flags: 1, transactionID: 7, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        h.host.waitForIdle()
        let completion = channel.receive()
        #expect(completion.first?.type == 0xB && completion.first?.transactionID == 7)

        h.guest.close(relid: offer.relid)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(h.host.phase(of: offer.relid) == .offered)
        #expect(h.guest.teardownGPADL(relid: offer.relid, handle: channel.gpadl))
        // Reopen works on fresh rings.
        let (again, _) = h.guest.open(offer: offer)
        #expect(again != nil)
    }

    @Test func ringWrapsAroundManyTimes() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        // One data page per direction: 4 KiB rings wrap every few packets.
        let channel = try #require(h.guest.open(offer: offer, sendPages: 2, receivePages: 2).0)
        var received: [GuestPacket] = []
        for i in 0..<500 {
            let payload = (0..<(i % 300 + 1)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
            #expect(channel.send(transactionID: UInt64(i), payload: payload))
            h.host.waitForIdle()
            received += channel.receive()
        }
        #expect(received.count == 500)
        for (i, packet) in received.enumerated() {
            let expected = (0..<(i % 300 + 1)).map { UInt8(truncatingIfNeeded: $0 &+ i) }
            #expect(packet.transactionID == UInt64(i))
            #expect(Array(packet.payload.prefix(expected.count)) == expected)
        }
        #expect(device.snapshot.packets.count == 500)
    }

    @Test func hostRespectsGuestInterruptMaskAndMasksItsOwn() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        h.host.waitForIdle()
        _ = h.synic.takeEvents()

        // Guest polling: mask set, the host must not interrupt.
        channel.inbound.interruptMask = 1
        channel.send(transactionID: 1, payload: [1])
        h.host.waitForIdle()
        #expect(h.synic.takeEvents().isEmpty)
        #expect(channel.receive().count == 1)
        channel.inbound.interruptMask = 0

        // Ring not empty before the write: no second interrupt for the second packet.
        channel.send(transactionID: 2, payload: [2])
        h.host.waitForIdle()
        #expect(h.synic.takeEvents().count == 1)
        channel.send(transactionID: 3, payload: [3])
        h.host.waitForIdle()
        #expect(h.synic.takeEvents().isEmpty)
        #expect(channel.receive().count == 2)

        // After draining, the host's mask on the guest → host ring is clear again.
        #expect(channel.outbound.interruptMask == 0)
    }

    @Test func hostFullRingSetsPendingSendAndResumes() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1, echo: false)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer, sendPages: 2, receivePages: 2).0)
        h.host.waitForIdle()
        let endpoint = try #require(device.snapshot.endpoint)
        var sent = 0
        while true {
            do {
                try endpoint.sendInband([UInt8](repeating: 0xAB, count: 1000), transactionID: UInt64(sent))
                sent += 1
            } catch {
                #expect(error == .ringFull)
                break
            }
        }
        #expect(sent == 3)  // 4096-byte data area, 1024 per packet with trailer, never completely full
        #expect(channel.inbound.pendingSendSize == 1016 + 8)  // 16 + 1000 padded to 1016, plus the trailer
        // The guest reads, sees pending_send_sz crossed, signals; the host tells the device.
        #expect(channel.receive().count == 3)
        h.host.waitForIdle()
        #expect(device.snapshot.spaceAvailable == 1)
        #expect(channel.inbound.pendingSendSize == 0)
        try endpoint.sendInband([1], transactionID: 99)
    }

    @Test func guestFullRingGetsSignalWhenHostReads() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1, echo: false)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer, sendPages: 2, receivePages: 2).0)
        h.host.waitForIdle()
        // Host masked (pretend it is busy) so the guest writes without signalling.
        channel.outbound.interruptMask = 1
        var sent = 0
        while channel.send(transactionID: UInt64(sent), payload: [UInt8](repeating: 1, count: 1000)) { sent += 1 }
        #expect(channel.outbound.pendingSendSize != 0)
        _ = h.synic.takeEvents()
        channel.signalHost()
        h.host.waitForIdle()
        #expect(device.snapshot.packets.count == sent)
        #expect(h.synic.takeEvents().contains(FakeSynIC.Event(vp: 0, sint: 2, flag: offer.relid)))
    }

    @Test func rescindClosesAndWaitsForRelIDReleased() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        let relid = try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        try h.host.rescind(relID: relid)
        h.host.waitForIdle()
        let rescind = h.guest.replies()
        #expect(rescind.contains { $0.u32(0) == 2 && $0.u32(8) == relid })
        #expect(h.host.phase(of: relid) == .rescinded)
        // The channel serves the guest's remove path until the guest closes it.
        #expect(device.snapshot.closed == 0)
        #expect(channel.send(transactionID: 1, payload: Array("bye".utf8)))
        channel.signalHost()
        h.host.waitForIdle()
        #expect(device.snapshot.packets.count == 1)
        // The guest still holds its ring GPADL: known until it tears it down (or releases the relid).
        #expect(h.host.gpadl(channel.gpadl) != nil)
        h.guest.close(relid: relid)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        // Packets on a closed rescinded channel go nowhere.
        #expect(h.host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0) == .invalidPortID)
        // A new device cannot take the relid before RELID_RELEASED.
        let other = try h.host.addDevice(EchoDevice(instance: 2))
        #expect(other != relid)
        h.guest.relidReleased(relid)
        #expect(h.host.phase(of: relid) == nil)
        #expect(throws: VMBusHostError.noSuchChannel(relid)) { try h.host.rescind(relID: relid) }
    }

    @Test func unloadTearsEverythingDownAndAllowsReconnect() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        #expect(h.guest.unload())
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(h.host.negotiatedVersion == nil)
        #expect(h.host.gpadl(channel.gpadl) == nil)
        // The next kernel connects again and sees the same device.
        let offers = h.connect()
        #expect(offers.map(\.relid) == [offer.relid])
        #expect(h.guest.open(offer: offers[0]).0 != nil)
        h.host.waitForIdle()
        #expect(device.snapshot.opened == 2)
    }

    @Test func recontactWithoutUnloadResets() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        _ = try #require(h.guest.open(offer: offer).0)
        // kexec after a crash: the new kernel just initiates contact.
        #expect(h.guest.negotiate() != nil)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(h.guest.requestOffers().offers.count == 1)
    }

    @Test func modifyChannelMovesInterruptsAndAnswersOn53() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        #expect(h.guest.modify(relid: offer.relid, targetVP: 1) == 0)
        _ = h.synic.takeEvents()
        channel.send(transactionID: 1, payload: [1])
        h.host.waitForIdle()
        #expect(h.synic.takeEvents() == [FakeSynIC.Event(vp: 1, sint: 2, flag: offer.relid)])
        #expect(h.guest.modify(relid: offer.relid, targetVP: 9) != 0)  // no such VP
        #expect(h.guest.modify(relid: 77, targetVP: 0) != 0)
    }

    @Test func modifyChannelHasNoResponseBefore53() throws {
        let h = Harness(configuration: .init(maxVersion: .win10_v5_2, vpCount: 2))
        try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        _ = try #require(h.guest.open(offer: offer).0)
        #expect(h.guest.modify(relid: offer.relid, targetVP: 1) == nil)
    }

    @Test func tlConnectRequestIsIgnoredPolitely() throws {
        let h = Harness()
        _ = h.connect()
        var m = Bytes(count: 40)
        m.put(UInt32(21), at: 0)
        #expect(h.guest.post(m.data) == .success)
        #expect(h.guest.replies().isEmpty)
        #expect(h.host.negotiatedVersion != nil)
    }
}
