import GuestMemory
import Logging
import SyntheticDevices
import Testing
import TestSupport
import VMBus
import VMBusTestSupport

@Suite struct NetworkAdapterTests {
    static let mac: [UInt8] = [0x00, 0x15, 0x5D, 0x12, 0x34, 0x56]

    /// A host with one adapter on an in-memory backend, and a guest that opened its channel.
    func makeGuest(ringPages: Int = 32) throws -> (NetvscGuest, NetworkAdapter, InMemoryPacketBackend) {
        let h = NetHarness()
        let backend = InMemoryPacketBackend()
        let host = h.host
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let adapter = NetworkAdapter(
            macAddress: Self.mac, instanceID: GUID(wireBytes: [UInt8](repeating: 7, count: 16)), backend: backend,
            gpadlLookup: { host.gpadl($0) }, logger: logger)
        try h.host.addDevice(adapter)
        return (try NetvscGuest(h: h, ringPages: ringPages), adapter, backend)
    }

    func frame(to destination: [UInt8], size: Int = 60, seed: UInt8 = 1) -> [UInt8] {
        destination + [0x02, 0, 0, 0, 0, 1] + [0x08, 0x00] + (0..<(size - 14)).map { UInt8(truncatingIfNeeded: $0) &+ seed }
    }

    @Test func linuxConnectSequenceAndRNDISBringUp() throws {
        let (guest, adapter, _) = try makeGuest()
        #expect(adapter.offer.classID == GUID("f8615163-df3e-46c5-913f-f2d2f965ed0e"))
        #expect(adapter.status.linkUp == false)
        #expect(guest.connect())
        #expect(adapter.status.nvspVersion == 0x60001)
        #expect(guest.bringUp() == Self.mac)
        let status = adapter.status
        #expect(status.linkUp)
        #expect(status.macAddress == "00:15:5d:12:34:56")
        #expect(status.statistics.protocolErrors == 0)
        // KEEPALIVE and RESET are answered; an unknown OID is refused, not fatal.
        #expect(guest.rndisRequest(RNDIS.keepalive, [])?.u32(12) == 0)
        #expect(guest.query(0x0001_0999)?.status == 0xC000_00BB)
        // Every control response went through the receive buffer and was completed.
        #expect(guest.allReceived.allSatisfy { $0.channelType == 1 })
    }

    @Test func unsupportedVersionIsRefusedAndTheNextAccepted() throws {
        let (guest, _, _) = try makeGuest()
        #expect(guest.initialize(version: 0x70000)?.0 == 2)
        #expect(guest.initialize(version: 0x50000).map { [$0.0, $0.1] } == [1, 0x50000])
    }

    @Test func guestFramesReachTheBackendFromSectionsAndPages() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        let small = frame(to: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], size: 64)
        #expect(guest.sendRNDIS(NetvscGuest.rndisPacket(small), channelType: 0, section: 3) == NVSP.success)
        // A full-size frame over GPA-direct pages, with a checksum per-packet info to skip.
        var ppi = Bytes(count: 16)
        ppi.put(UInt32(16), at: 0)  // size
        ppi.put(UInt32(0), at: 4)  // TCPIP_CHKSUM_PKTINFO
        ppi.put(UInt32(12), at: 8)  // ppi_offset
        let big = frame(to: Self.mac, size: 1514, seed: 9)
        #expect(guest.sendRNDIS(NetvscGuest.rndisPacket(big, ppi: ppi.data), channelType: 0) == NVSP.success)
        #expect(backend.takeTransmitted() == [small, big])
        let stats = adapter.status.statistics
        #expect(stats.txPackets == 2 && stats.txBytes == UInt64(64 + 1514) && stats.txDrops == 0)
    }

    @Test func hostFramesArriveInReceiveSectionsAndCompletionsFreeThem() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect(receiveBufferPages: 8))  // 16 sections of 2048 bytes
        #expect(guest.bringUp() != nil)
        let sections = guest.receiveSectionCount
        #expect(sections == 16)
        // Three rounds of more frames than sections: completions free them each time.
        var sent: [[UInt8]] = []
        for i in 0..<(sections * 3) {
            let f = frame(to: Self.mac, size: 60 + i * 20, seed: UInt8(i))
            sent.append(f)
            backend.inject(f)
            guest.pump()
        }
        #expect(guest.frames == sent)
        #expect(adapter.status.statistics.rxPackets == UInt64(sections * 3))
        #expect(adapter.status.statistics.rxDrops == 0)
    }

    @Test func fullReceiveBufferDropsAndRecoversAfterCompletions() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect(receiveBufferPages: 8))
        #expect(guest.bringUp() != nil)
        guest.autoComplete = false
        for i in 0..<(guest.receiveSectionCount + 5) { backend.inject(frame(to: Self.mac, seed: UInt8(i))) }
        guest.pump()
        #expect(guest.frames.count == guest.receiveSectionCount)
        #expect(adapter.status.statistics.rxDrops == 5)
        // A control response queues while no section is free, then goes out after completions.
        guest.control = []
        _ = guest.sendRNDIS(
            { var m = Bytes(count: 12); m.put(RNDIS.keepalive, at: 0); m.put(UInt32(12), at: 4); m.put(UInt32(77), at: 8); return m.data }(),
            channelType: 1)
        #expect(guest.control.isEmpty)
        guest.autoComplete = true
        for id in guest.uncompleted { guest.completeReceive(id) }
        guest.uncompleted = []
        guest.pump()
        #expect(guest.control.contains { $0.bytes.u32(0) == RNDIS.keepalive | RNDIS.complete && $0.bytes.u32(8) == 77 })
        backend.inject(frame(to: Self.mac, seed: 200))
        guest.pump()
        #expect(guest.frames.count == guest.receiveSectionCount + 1)
        // A second completion of the same section is refused.
        let errors = adapter.status.statistics.protocolErrors
        guest.completeReceive(guest.allReceived[0].transactionID)
        guest.pump()
        #expect(adapter.status.statistics.protocolErrors == errors + 1)
    }

    @Test func receiveFilterPassesOwnBroadcastAndMulticastOnly() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        backend.inject(frame(to: [0x00, 0x15, 0x5D, 0, 0, 1]))  // someone else's
        backend.inject(frame(to: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        backend.inject(frame(to: [0x01, 0x00, 0x5E, 0, 0, 1]))
        backend.inject(frame(to: Self.mac))
        guest.pump()
        #expect(guest.frames.count == 3)
        #expect(adapter.status.statistics.rxFiltered == 1)
        // Before the guest sets a filter (interface down), frames are dropped.
        let (fresh, freshAdapter, freshBackend) = try makeGuest()
        #expect(fresh.connect())
        freshBackend.inject(frame(to: Self.mac))
        fresh.pump()
        #expect(fresh.frames.isEmpty && freshAdapter.status.statistics.rxDrops == 1)
    }

    @Test func hostileSectionsRangesAndLengthsAreRejected() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        let good = NetvscGuest.rndisPacket(frame(to: Self.mac))
        let before = adapter.status.statistics.protocolErrors
        // Section index past the buffer, section size past the section.
        let id1 = guest.tid()
        guest.channel.send(type: 6, flags: 1, transactionID: id1, payload: guest.nvsp(NVSP.rndisPacket, [(8, 1000), (12, 60)]).data)
        let id2 = guest.tid()
        guest.channel.send(type: 6, flags: 1, transactionID: id2, payload: guest.nvsp(NVSP.rndisPacket, [(8, 0), (12, 100_000)]).data)
        guest.pump()
        #expect(guest.completions[id1]?.u32(4) == 2 && guest.completions[id2]?.u32(4) == 2)
        // A GPA-direct page outside RAM.
        let id3 = guest.tid()
        guest.sendGPADirect(ranges: [(60, 0, 0xFFFF_FFFF)], payload: guest.nvsp(NVSP.rndisPacket, [(8, 0xFFFF_FFFF)]).data, transactionID: id3)
        guest.pump()
        #expect(guest.completions[id3]?.u32(4) == 2)
        // data_offset/len past msg_len, msg_len past the section, PPI past the message.
        var bad1 = Bytes(good); bad1.put(UInt32(5000), at: 12)
        var bad2 = Bytes(good); bad2.put(UInt32(9000), at: 4)
        var bad3 = Bytes(good); bad3.put(UInt32(36), at: 28); bad3.put(UInt32(400), at: 32)
        for bad in [bad1, bad2, bad3] { #expect(guest.sendRNDIS(bad.data, channelType: 0, section: 1) == 2) }
        #expect(backend.takeTransmitted().isEmpty)
        #expect(adapter.status.statistics.protocolErrors == before + 6)
        // Still works.
        #expect(guest.sendRNDIS(good, channelType: 0, section: 0) == 1)
        #expect(backend.takeTransmitted().count == 1)
    }

    @Test func completionsWaitForRingSpaceInsteadOfBeingLost() throws {
        let (guest, adapter, backend) = try makeGuest(ringPages: 3)  // 8 KiB each way
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        let packet = NetvscGuest.rndisPacket(frame(to: Self.mac))
        guest.writeSendBuffer(packet, at: 0)
        // 400 sends while the guest does not read its inbound ring: ~110 completions fit.
        var ids: [UInt64] = []
        for _ in 0..<400 {
            let id = guest.tid()
            while !guest.channel.send(type: 6, flags: 1, transactionID: id, payload: guest.nvsp(NVSP.rndisPacket, [(12, UInt32(packet.count))]).data) {
                guest.h.host.waitForIdle()
            }
            ids.append(id)
        }
        guest.h.host.waitForIdle()
        #expect(backend.takeTransmitted().count == 400)
        for _ in 0..<50 where ids.contains(where: { guest.completions[$0] == nil }) { guest.pump() }
        #expect(ids.allSatisfy { guest.completions[$0]?.u32(4) == NVSP.success }, "completions were lost")
        #expect(adapter.status.statistics.protocolErrors == 0)
    }

    @Test func closeAndReopenStartsTheProtocolOver() throws {
        let (first, adapter, backend) = try makeGuest()
        #expect(first.connect())
        #expect(first.bringUp() != nil)
        #expect(first.sendRNDIS(NetvscGuest.rndisPacket(frame(to: Self.mac)), channelType: 0, section: 0) == NVSP.success)
        let guest = try NetvscGuest(reopening: first)
        #expect(adapter.status.linkUp == false)
        #expect(guest.connect())
        #expect(guest.bringUp() == Self.mac)
        backend.inject(frame(to: Self.mac, seed: 3))
        guest.pump()
        #expect(guest.frames == [frame(to: Self.mac, seed: 3)])
        #expect(adapter.status.statistics.txPackets == 1 && adapter.status.statistics.rxPackets == 1)
    }

    @Test func receiveBufferTornDownWithoutRevokeIsNoLongerWritten() throws {
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        #expect(guest.h.guest.teardownGPADL(relid: guest.channel.relid, handle: guest.receiveGPADL))
        for page in guest.receivePages { try guest.memory.fill(at: GuestPhysicalAddress(pageNumber: page), count: 4096, with: 0xEE) }
        backend.inject(frame(to: Self.mac))
        guest.pump()
        #expect(guest.frames.isEmpty)
        #expect(guest.readReceiveBuffer(offset: 0, count: 4096 * guest.receivePages.count).allSatisfy { $0 == 0xEE })
        #expect(adapter.status.statistics.rxDrops == 1)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64]) func seededRandomPacketsNeverBreakTheAdapter(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let (guest, adapter, backend) = try makeGuest()
        #expect(guest.connect())
        #expect(guest.bringUp() != nil)
        let types: [UInt32] = [1, 2, 100, 101, 103, 104, 106, 107, 108, 125, 133, 0xFFFF_FFFF]
        for round in 0..<300 {
            let id = guest.tid()
            var m = Bytes(count: Int.random(in: 0...48, using: &rng))
            if m.data.count >= 4 { m.put(types.randomElement(using: &rng) ?? 107, at: 0) }
            for o in stride(from: 4, to: m.data.count - 3, by: 4) where Bool.random(using: &rng) {
                m.put(UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32.random(in: 0...31, using: &rng), at: o)
            }
            switch round % 4 {
            case 0:
                guest.channel.send(type: 6, flags: 1, transactionID: id, payload: m.data)
            case 1:
                let pfn = Bool.random(using: &rng) ? UInt64.random(in: 0...0x2000, using: &rng) : UInt64.random(in: 0...UInt64.max, using: &rng)
                guest.sendGPADirect(
                    ranges: [(UInt32.random(in: 0...9000, using: &rng), UInt32.random(in: 0...5000, using: &rng), pfn)],
                    payload: m.data, transactionID: id)
            case 2:
                // Random RNDIS bytes in a send section, possibly a mangled real message.
                var r = Bytes(NetvscGuest.rndisPacket(frame(to: Self.mac)))
                for _ in 0..<3 { r.put(UInt32.random(in: 0...UInt32.max, using: &rng) >> UInt32.random(in: 0...31, using: &rng), at: 4 * Int.random(in: 0...10, using: &rng)) }
                guest.writeSendBuffer(r.data, at: 0)
                guest.channel.send(type: 6, flags: 1, transactionID: id, payload: guest.nvsp(107, [(4, 0), (8, 0), (12, UInt32.random(in: 0...200, using: &rng))]).data)
            default:
                guest.channel.send(type: UInt16.random(in: 0...12, using: &rng), flags: 0, transactionID: UInt64.random(in: 0...UInt64.max, using: &rng), payload: m.data)
            }
            if round % 16 == 0 { guest.pump() }
        }
        guest.pump()
        #expect(adapter.status.statistics.protocolErrors > 0)
        // Hostile input may have revoked buffers or halted RNDIS, but the host never crashed or
        // hung, and the channel still answers: a new INIT is completed.
        _ = backend.takeTransmitted()
        #expect(guest.initialize(version: 0x60001)?.0 == 1)
    }
}
