import Foundation
import GuestMemory
import HyperV
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport
import VirtualDisk

/// Save a live VMBus host, copy the RAM, build a fresh host with the same devices on the copy,
/// restore, and check the guest carries on without renegotiating anything.
@Suite struct VMBusSavedStateTests {
    /// A harness on a copy of `old`'s RAM whose guest driver continues where `old`'s left off.
    func restoredHarness(from old: Harness, memoryMiB: UInt64 = 8) throws -> Harness {
        let h = Harness(memoryMiB: memoryMiB, memory: try copyOfRAM(old.memory))
        h.guest.messageConnectionID = old.guest.messageConnectionID
        h.guest.nextFreePage = old.guest.nextFreePage
        h.guest.nextGPADL = old.guest.nextGPADL
        return h
    }

    /// GPADL_HEADER with the first 26 PFNs of `pages` only: the bodies are still to come.
    func gpadlHeaderOnly(_ h: Harness, relid: UInt32, pages: [UInt64], handle: UInt32) {
        var m = Bytes(count: 20 + 8 + 8 * 26)
        m.put(Msg.gpadlHeader, at: 0)
        m.put(relid, at: 8)
        m.put(handle, at: 12)
        m.put(UInt16(8 + 8 * pages.count), at: 16)
        m.put(UInt16(1), at: 18)
        m.put(UInt32(pages.count * 4096), at: 20)
        for i in 0..<26 { m.put(pages[i], at: 28 + 8 * i) }
        h.guest.post(m.data)
    }

    func gpadlBody(_ h: Harness, pages: ArraySlice<UInt64>, handle: UInt32) {
        var b = Bytes(count: 16 + 8 * pages.count)
        b.put(Msg.gpadlBody, at: 0)
        b.put(handle, at: 12)
        for (i, pfn) in pages.enumerated() { b.put(pfn, at: 16 + 8 * i) }
        h.guest.post(b.data)
    }

    /// Two echo devices, one open on VP 1 with an extra GPADL and a half-sent one, saved.
    func savedEchoHost() throws -> (
        Harness, GuestChannel, extra: UInt32, pending: (UInt32, [UInt64]), VMBusHostSavedState, second: GuestOffer
    ) {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        try h.host.addDevice(EchoDevice(instance: 2))
        let offers = h.connect()
        #expect(offers.count == 2)
        let channel = try #require(h.guest.open(offer: offers[0], targetVP: 1).0)
        #expect(channel.send(transactionID: 5, payload: [1, 2, 3, 4, 5, 6, 7, 8]))
        h.host.waitForIdle()
        #expect(channel.receive().map(\.transactionID) == [5])
        let extra = h.guest.createGPADL(relid: offers[0].relid, pages: h.guest.allocatePages(3))
        #expect(extra.status == 0)
        let pendingPages = h.guest.allocatePages(40)
        let pendingHandle = h.guest.allocateGPADLHandle()
        gpadlHeaderOnly(h, relid: offers[0].relid, pages: pendingPages, handle: pendingHandle)
        #expect(h.guest.replies().isEmpty)
        h.host.waitForIdle()
        return (h, channel, extra.handle, (pendingHandle, pendingPages), try roundTrip(h.host.captureState()), offers[1])
    }

    @Test func channelsAndGPADLsContinueAfterRestore() throws {
        let (old, oldChannel, extra, pending, saved, offer2) = try savedEchoHost()
        #expect(saved.connection?.version == VMBusVersion.win10_v5_3.rawValue)
        #expect(saved.gpadls.count == 2 && saved.pendingGPADLs.count == 1)

        let h = try restoredHarness(from: old)
        let device1 = EchoDevice(instance: 1)
        let device2 = EchoDevice(instance: 2)
        try h.host.addDevice(device1)
        try h.host.addDevice(device2)
        try h.host.restore(saved)
        h.host.resumeRestoredChannels()
        #expect(h.host.negotiatedVersion == .win10_v5_3)
        #expect(h.host.phase(of: oldChannel.relid) == .open && h.host.phase(of: 2) == .offered)
        #expect(h.host.restoredEndpoint(for: device1)?.targetVP == 1)
        #expect(h.host.restoredEndpoint(for: device2) == nil)
        #expect(h.host.gpadl(extra)?.pageNumbers.count == 3)
        #expect(device1.snapshot.opened == 0, "restore must not reopen the channel")

        // The guest keeps using its ring: the echo comes back, signalled on VP 1.
        let channel = oldChannel.restored(onto: h.guest)
        #expect(channel.send(flags: 1, transactionID: 6, payload: [9, 9, 9, 9, 9, 9, 9, 9]))
        h.host.waitForIdle()
        let echoed = channel.receive()
        #expect(echoed.map(\.transactionID) == [6] && echoed.first?.type == 11)
        #expect(h.synic.takeEvents().contains { $0.vp == 1 && $0.flag == oldChannel.relid })
        // The half-sent GPADL completes with its bodies.
        gpadlBody(h, pages: pending.1[26..<40], handle: pending.0)
        let created = h.guest.replies().first { $0.u32(0) == Msg.gpadlCreated && $0.u32(12) == pending.0 }
        #expect(created?.u32(16) == 0)
        // Channel management still works: the second device opens, the first closes.
        #expect(h.guest.open(offer: offer2).1 == 0)
        h.guest.close(relid: oldChannel.relid)
        h.host.waitForIdle()
        #expect(device1.snapshot.closed == 1 && device2.snapshot.opened == 1)
    }

    @Test func corruptHostStateIsRefused() throws {
        let (old, _, extra, _, saved, _) = try savedEchoHost()
        func expectRefused(_ name: String, _ mutate: (inout VMBusHostSavedState) -> Void) throws {
            var state = saved
            mutate(&state)
            let h = try restoredHarness(from: old)
            try h.host.addDevice(EchoDevice(instance: 1))
            try h.host.addDevice(EchoDevice(instance: 2))
            #expect(throws: HyperVSavedStateError.self, "\(name)") { try h.host.restore(state) }
            #expect(h.host.negotiatedVersion == nil, "\(name): a refused restore changes nothing")
        }
        let extraIndex = try #require(saved.gpadls.firstIndex { $0.handle == extra })
        let ringIndex = try #require(saved.channels.firstIndex { $0.ring != nil })
        try expectRefused("PFN outside RAM") { $0.gpadls[extraIndex].ranges[0].pfns[1] = 0xFFFF_FFFF }
        try expectRefused("PFN count") { $0.gpadls[extraIndex].ranges[0].pfns.removeLast() }
        try expectRefused("GPADL of an unknown relid") { $0.gpadls[extraIndex].relID = 77 }
        try expectRefused("duplicate GPADL") { $0.gpadls.append($0.gpadls[extraIndex]) }
        try expectRefused("ring GPADL missing") { $0.channels[ringIndex].ring?.gpadl = 0xBAD }
        try expectRefused("ring split") { $0.channels[ringIndex].ring?.downstreamPageOffset = 1 }
        try expectRefused("read index") { $0.channels[ringIndex].ring?.readIndex = 3 }
        try expectRefused("write index") { $0.channels[ringIndex].ring?.writeIndex = 1 << 30 }
        try expectRefused("target VP") { $0.channels[ringIndex].ring?.targetVP = 9 }
        try expectRefused("relid out of range") { $0.channels[0].relID = 5000 }
        try expectRefused("other device") { $0.channels[0].instanceID = [UInt8](repeating: 1, count: 16) }
        try expectRefused("device missing") { $0.channels.removeLast() }
        try expectRefused("open without ring") { $0.channels[ringIndex].ring = nil }
        try expectRefused("version") { $0.connection?.version = 0x0009_0000 }
        try expectRefused("SINT") { $0.connection?.sint = 0 }
        try expectRefused("pending GPADL") { $0.pendingGPADLs[0].bufferLength = 3 }
        // A host already in use refuses too.
        let h = try restoredHarness(from: old)
        try h.host.addDevice(EchoDevice(instance: 1))
        try h.host.addDevice(EchoDevice(instance: 2))
        _ = h.connect()
        #expect(throws: HyperVSavedStateError.self) { try h.host.restore(saved) }
        // A garbled blob does not decode.
        var bytes = try JSONEncoder().encode(saved)
        bytes[bytes.count / 2] ^= 0x5A
        #expect(throws: (any Error).self) { try JSONDecoder().decode(VMBusHostSavedState.self, from: bytes) }
    }

    @Test func heartbeatSequenceContinuesMidExchange() throws {
        let old = Harness()
        let heartbeat = HeartbeatService(interval: nil)
        try old.host.addDevice(heartbeat)
        let offer = try #require(old.connect().first)
        let oldChannel = try #require(old.guest.open(offer: offer).0)
        old.host.waitForIdle()
        let guest = GuestUtilService(channel: oldChannel, serviceVersions: [(3, 0), (1, 0)])
        guest.handler = { _, buf in buf.put(buf.u64(GuestIC.icmsgHdr) + 1, at: GuestIC.icmsgHdr) }
        for _ in 0..<3 {
            old.host.waitForIdle()
            guest.poll()
        }
        old.host.waitForIdle()
        #expect(heartbeat.status == .healthy(sequence: 2))
        // Mid-exchange: heartbeat 2 is in the guest's ring, unanswered, when the VM is saved.
        heartbeat.tick()
        heartbeat.pauseTimer()
        old.host.waitForIdle()
        let hostState = try roundTrip(old.host.captureState())
        let heartbeatState = try roundTrip(heartbeat.captureState())
        #expect(heartbeatState.outstanding == 2 && heartbeatState.engine.negotiated == [3, 0, 3, 0])

        let h = try restoredHarness(from: old)
        let restored = HeartbeatService(interval: nil)
        try h.host.addDevice(restored)
        try h.host.restore(hostState)
        try restored.restore(heartbeatState, channel: h.host.restoredEndpoint(for: restored))
        h.host.resumeRestoredChannels()
        let guest2 = GuestUtilService(channel: oldChannel.restored(onto: h.guest), serviceVersions: [(3, 0)])
        guest2.handler = guest.handler
        func pump() {
            for _ in 0..<3 {
                h.host.waitForIdle()
                guest2.poll()
            }
            h.host.waitForIdle()
        }
        pump()
        // The guest answers the heartbeat sent before the save; no negotiation happened again.
        #expect(guest2.received.count == 1 && guest2.received[0].u16(8 + 4) == GuestIC.heartbeat)
        #expect(restored.status == .healthy(sequence: 3))
        restored.tick()
        pump()
        #expect(restored.status == .healthy(sequence: 4))
        #expect(guest2.received.allSatisfy { $0.u16(8 + 4) != GuestIC.negotiate })
    }

    @Test func storageReadAfterRestoreAndWaitingCompletionsArrive() throws {
        let s = try StorageChannelTests.Setup(pages: 8)
        try s.initialize()
        let data = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try s.controller.disks[0]?.disk.write(at: 3 * 512, data)
        // More TEST UNIT READY completions than the host → guest ring holds: some wait in the
        // controller when the VM is saved.
        let tur = s.srb([0, 0, 0, 0, 0, 0], dataIn: false, length: 0)
        var next: UInt64 = 1
        for _ in 0..<2 {
            for _ in 0..<250 {
                #expect(s.channel.send(type: 6, flags: 1, transactionID: next, payload: tur))
                next += 1
            }
            s.h.host.waitForIdle()
        }
        let hostState = try roundTrip(s.h.host.captureState())
        let storageState = try roundTrip(s.controller.captureState())
        #expect(storageState.phase == .ready && !storageState.pendingCompletions.isEmpty)

        let h = try restoredHarness(from: s.h, memoryMiB: 16)
        let controller = StorageController(instanceID: s.controller.offer.instanceID, disks: s.controller.disks)
        try h.host.addDevice(controller)
        try h.host.restore(hostState)
        try controller.restore(storageState, channel: h.host.restoredEndpoint(for: controller))
        h.host.resumeRestoredChannels()
        #expect(controller.isReady && controller.protocolVersion == .win10)
        let channel = s.channel.restored(onto: h.guest)
        var received: [UInt64] = []
        for _ in 0..<20 {
            h.host.waitForIdle()
            received += channel.receive().map(\.transactionID)
        }
        h.host.waitForIdle()
        #expect(received == Array(1..<next), "every completion, in order, across the save")
        // A SCSI READ(10) of LBA 3 after restore, GPA-direct into guest pages, without re-init.
        let read10: [UInt8] = [0x28, 0, 0, 0, 0, 3, 0, 0, 8, 0]
        let readSetup = StorageChannelTests.Setup.sender(channel)
        readSetup(s.srb(read10, dataIn: true, length: 4096), 4096, [0xA00], 77)
        h.host.waitForIdle()
        let completion = try #require(channel.receive().first)
        #expect(completion.transactionID == 77 && Bytes(completion.payload).u8(14) == 1)
        #expect(try h.memory.read(at: GuestPhysicalAddress(pageNumber: 0xA00), count: 4096) == data)
    }

    @Test func storageStateMismatchIsRefused() throws {
        let s = try StorageChannelTests.Setup()
        try s.initialize()
        let saved = s.controller.captureState()
        var wrongLUNs = saved
        wrongLUNs.luns = [0, 1]
        #expect(throws: HyperVSavedStateError.self) { try s.controller.restore(wrongLUNs, channel: nil) }
        var badVersion = saved
        badVersion.protocolVersion = 0x0100
        #expect(throws: HyperVSavedStateError.self) { try s.controller.restore(badVersion, channel: nil) }
        #expect(throws: HyperVSavedStateError.self) { try s.controller.restore(saved, channel: nil) }
        var badCompletion = saved
        // A one-byte completion, as a hostile file would carry it.
        badCompletion.pendingCompletions = try JSONDecoder().decode(
            [StorageControllerSavedState.Completion].self, from: Data(#"[{"transactionID":1,"payload":[1]}]"#.utf8))
        #expect(throws: HyperVSavedStateError.self) { try s.controller.restore(badCompletion, channel: nil) }
    }
}
