import Dispatch
import Foundation
import GuestMemory
import Synchronization
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport
import VirtualDisk

/// Hot-add and hot-remove the way Linux's hv_vmbus sees them: a late OFFERCHANNEL after
/// ALLOFFERS_DELIVERED (vmbus_onoffer), RESCIND_CHANNELOFFER (vmbus_onoffer_rescind) answered by
/// CLOSECHANNEL, GPADL_TEARDOWN and RELID_RELEASED; and storvsc's ENUMERATE_BUS rescan.
@Suite struct HotplugTests {
    /// Counts `onReleased` calls.
    final class ReleaseCounter: Sendable {
        let count = Atomic<Int>(0)
        let signalled = DispatchSemaphore(value: 0)
        var callback: @Sendable () -> Void {
            {
                self.count.add(1, ordering: .relaxed)
                self.signalled.signal()
            }
        }
        var value: Int { count.load(ordering: .relaxed) }
        /// Waits (up to a second) for a call that may run on a queue the host no longer tracks.
        func waitForCall() -> Bool { signalled.wait(timeout: .now() + 1) == .success }
    }

    @Test func lateOfferIsReceivedAndOpened() throws {
        let h = Harness()
        try h.host.addDevice(EchoDevice(instance: 1))
        #expect(h.connect().count == 1)
        let late = EchoDevice(instance: 2)
        let relid = try h.host.addDevice(late)
        let offers = h.guest.replies().filter { $0.u32(0) == 1 }.map(GuestOffer.init)
        #expect(offers.map(\.relid) == [relid], "one OFFERCHANNEL, no second ALLOFFERS_DELIVERED")
        let offer = try #require(offers.first)
        #expect(offer.ifInstance == late.offer.instanceID.wireBytes)
        let channel = try #require(h.guest.open(offer: offer).0)
        #expect(channel.send(transactionID: 5, payload: Array("late".utf8)))
        channel.signalHost()
        h.host.waitForIdle()
        #expect(late.snapshot.opened == 1)
        #expect(late.snapshot.packets.map { Array($0.payload.prefix(4)) } == [Array("late".utf8)])
    }

    @Test func rescindCloseTeardownReleaseFreesTheRelID() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        let relid = try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        let released = ReleaseCounter()
        try h.host.rescind(relID: relid, onReleased: released.callback)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 0, "open until the guest closes it")
        #expect(h.guest.replies().contains { $0.u32(0) == 2 && $0.u32(8) == relid })
        #expect(h.host.relID(of: device) == nil)
        // Linux: vmbus_close (CLOSECHANNEL, GPADL_TEARDOWN → TORNDOWN), then RELID_RELEASED.
        h.guest.close(relid: relid)
        h.host.waitForIdle()
        #expect(device.snapshot.closed == 1)
        #expect(h.guest.teardownGPADL(relid: relid, handle: channel.gpadl))
        #expect(h.host.gpadl(channel.gpadl) == nil)
        #expect(released.value == 0)
        h.guest.relidReleased(relid)
        #expect(released.waitForCall())
        #expect(h.host.phase(of: relid) == nil)
        // The relid is free again: the next device may take it; a late second release is ignored.
        #expect(try h.host.addDevice(EchoDevice(instance: 2)) == relid)
        h.guest.relidReleased(relid)
        #expect(h.host.phase(of: relid) == .offered)
        #expect(released.value == 1)
    }

    @Test func releaseDropsGPADLsTheGuestDidNotTearDown() throws {
        let h = Harness()
        let relid = try h.host.addDevice(EchoDevice(instance: 1))
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        let extra = h.guest.createGPADL(relid: relid, pages: h.guest.allocatePages(2))
        #expect(extra.status == 0)
        try h.host.rescind(relID: relid)
        #expect(h.host.gpadl(extra.handle) != nil)
        h.guest.relidReleased(relid)
        #expect(h.host.gpadl(extra.handle) == nil && h.host.gpadl(channel.gpadl) == nil)
    }

    @Test func aGuestThatIgnoresTheRescindLosesTheDeviceAnyway() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        let relid = try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer).0)
        let released = ReleaseCounter()
        try h.host.rescind(relID: relid, onReleased: released.callback)
        // The caller's deadline runs out: the host cuts the channel off.
        h.host.closeRescinded(relID: relid)
        // The guest keeps writing and signalling; nothing reaches the device, nothing hangs.
        #expect(channel.send(transactionID: 1, payload: [1, 2, 3]))
        #expect(h.host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0) == .invalidPortID)
        h.host.waitForIdle()
        #expect(device.snapshot.packets.isEmpty && device.snapshot.closed == 1)
        #expect(released.value == 0)
        #expect(h.host.phase(of: relid) == .rescinded)
        // Other devices come and go around the reserved relid; an UNLOAD finally frees it.
        #expect(try h.host.addDevice(EchoDevice(instance: 2)) != relid)
        #expect(h.guest.unload())
        #expect(released.waitForCall())
        #expect(h.host.phase(of: relid) == nil)
    }

    @Test func releaseWithoutCloseStillClosesTheChannel() throws {
        let h = Harness()
        let device = EchoDevice(instance: 1)
        let relid = try h.host.addDevice(device)
        let offer = try #require(h.connect().first)
        _ = try #require(h.guest.open(offer: offer).0)
        try h.host.rescind(relID: relid)
        h.guest.relidReleased(relid)
        h.host.waitForIdle()
        #expect(h.host.phase(of: relid) == nil)
        #expect(h.host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0) == .invalidPortID)
        // The device's queue is no longer tracked by the host: give it a moment.
        for _ in 0..<100 where device.snapshot.closed == 0 { usleep(10_000) }
        #expect(device.snapshot.closed == 1)
    }

    @Test func rescindBeforeTheGuestSawTheOfferReleasesAtOnce() throws {
        let h = Harness()
        let relid = try h.host.addDevice(EchoDevice(instance: 1))
        let released = ReleaseCounter()
        try h.host.rescind(relID: relid, onReleased: released.callback)
        #expect(released.waitForCall())
        #expect(h.host.phase(of: relid) == nil)
        #expect(h.connect().isEmpty)
    }
}

/// LUN hot-plug on the storage VSP through the real rings.
@Suite struct StorageHotplugTests {
    static func rawDisk(_ size: UInt64 = 1 << 20) throws -> (SCSIDisk, String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hotplug-\(UUID().uuidString).raw").path
        return (SCSIDisk(disk: try RawDisk.create(path: path, size: size), path: path, identity: [9]), path)
    }

    /// The unsolicited packets (transaction id 0) among `packets`, as vstor operations.
    static func announcements(_ packets: [GuestPacket]) -> [UInt32] {
        packets.filter { $0.transactionID == 0 && $0.type == 6 }.map { Bytes($0.payload).u32(0) }
    }

    @Test func attachAndDetachSendEnumerateBus() throws {
        let s = try StorageChannelTests.Setup()
        try s.initialize()
        let (disk, path) = try Self.rawDisk()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try s.controller.attach(disk, lun: 3)
        #expect(Self.announcements(s.pump()) == [11])
        #expect(throws: StorageHotplugError.lunInUse(3)) { try s.controller.attach(disk, lun: 3) }
        // REPORT LUNS now lists 0 and 3 (what scsi_scan_host reads after the rescan).
        let reportLUNs: [UInt8] = [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0]
        s.sendGPADirect(s.srb(reportLUNs, dataIn: true, length: 64), byteCount: 64, pfns: [0xB00], transactionID: 7)
        #expect(s.pump().first?.transactionID == 7)
        let list = Bytes(try s.h.memory.read(at: GuestPhysicalAddress(pageNumber: 0xB00), count: 24))
        #expect(list.data[3] == 16 && list.data[9] == 0 && list.data[17] == 3)

        #expect(s.controller.detach(lun: 3) === disk)
        #expect(Self.announcements(s.pump()) == [11])
        #expect(s.controller.detach(lun: 3) == nil)
        #expect(s.controller.disks.keys.sorted() == [0])
    }

    @Test func ioToARemovedLUNFailsCleanly() throws {
        let s = try StorageChannelTests.Setup()
        try s.initialize()
        let (disk, path) = try Self.rawDisk()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try s.controller.attach(disk, lun: 1)
        _ = s.pump()
        let read10: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0]
        var srb = s.srb(read10, dataIn: true, length: 4096)
        srb[19] = 1  // LUN 1
        s.sendGPADirect(srb, byteCount: 4096, pfns: [0xC00], transactionID: 21)
        let ok = try #require(s.pump().first)
        #expect(ok.transactionID == 21 && Bytes(ok.payload).u8(14) == 1)
        // Detach, drain the channel queue (what LiveDevices does), close the image; a read the
        // guest sends before it noticed gets an error, not a closed file.
        s.controller.detach(lun: 1)
        s.h.host.waitForIdle()
        try disk.disk.close()
        s.sendGPADirect(srb, byteCount: 4096, pfns: [0xC00], transactionID: 22)
        let packets = s.pump()
        let failed = try #require(packets.first { $0.transactionID == 22 })
        #expect(Bytes(failed.payload).u8(14) == 0x20, "SRB_STATUS_INVALID_LUN: Linux removes the device")
        #expect(Self.announcements(packets) == [11])
        // LUN 0 is untouched.
        srb[19] = 0
        s.sendGPADirect(srb, byteCount: 4096, pfns: [0xC00], transactionID: 23)
        #expect(s.pump().first.map { Bytes($0.payload).u8(14) } == 1)
    }

    @Test func noAnnouncementBeforeTheGuestInitialized() throws {
        let s = try StorageChannelTests.Setup()
        let (disk, path) = try Self.rawDisk()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try s.controller.attach(disk, lun: 2)
        #expect(s.pump().isEmpty)
        try s.initialize()
        #expect(s.controller.disks.keys.sorted() == [0, 2])
    }
}
