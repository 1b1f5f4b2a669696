import Foundation
import GuestMemory
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport
import VirtualDisk

/// The storage VSP through the real VMBus host and rings, driven the way Linux's storvsc drives
/// it: init packets with trans_id VMBUS_RQST_INIT, EXECUTE_SRB as in-band or GPA-direct
/// packets, completions read back from the host → guest ring.
@Suite struct StorageChannelTests {
    static let rqstInit = UInt64.max - 2

    final class Setup {
        let h = Harness(memoryMiB: 16)
        let channel: GuestChannel
        let controller: StorageController
        let path: String

        init(pages: Int = 8) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("storvsp-\(UUID().uuidString).raw").path
            let disk = try RawDisk.create(path: path, size: 4 << 20)
            controller = StorageController(
                instanceID: GUID("0f7e1d2c-3b4a-4596-8778-695a4b3c2d1e")!,
                disks: [0: SCSIDisk(disk: disk, path: path, identity: [1, 2, 3])])
            try h.host.addDevice(controller)
            let offer = try #require(h.connect().first)
            #expect(offer.ifType == guidBytes("ba6163d9-04a1-4d29-b605-72e2ffb1dc7f"))
            channel = try #require(h.guest.open(offer: offer, sendPages: pages, receivePages: pages).0)
            h.host.waitForIdle()
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func vstor(_ op: UInt32, _ fill: (inout Bytes) -> Void = { _ in }) -> [UInt8] {
            var p = Bytes(count: 64)
            p.put(op, at: 0)
            p.put(UInt32(1), at: 4)
            fill(&p)
            return p.data
        }

        func srb(_ cdb: [UInt8], dataIn: Bool, length: UInt32) -> [UInt8] {
            vstor(3) { p in
                p.put(UInt16(52), at: 12)
                p.put(UInt8(cdb.count), at: 20)
                p.put(UInt8(20), at: 21)
                p.put(UInt8(dataIn ? 1 : 0), at: 22)
                p.put(length, at: 24)
                p.put(bytes: cdb, at: 28)
            }
        }

        /// Writes a GPA-direct packet (vmbus_sendpacket_mpb_desc) with its trailer.
        func sendGPADirect(_ payload: [UInt8], byteCount: UInt32, pfns: [UInt64], transactionID: UInt64) {
            Self.sender(channel)(payload, byteCount, pfns, transactionID)
        }

        /// `sendGPADirect` on any guest channel (a restored one too).
        static func sender(_ channel: GuestChannel) -> ([UInt8], UInt32, [UInt64], UInt64) -> Void {
            { payload, byteCount, pfns, transactionID in
                Self.writeGPADirect(channel, payload, byteCount: byteCount, pfns: pfns, transactionID: transactionID)
            }
        }

        static func writeGPADirect(_ channel: GuestChannel, _ payload: [UInt8], byteCount: UInt32, pfns: [UInt64], transactionID: UInt64) {
            let header = 32 + 8 * pfns.count
            let len = (header + payload.count + 7) & ~7
            var p = Bytes(count: len)
            p.put(UInt16(9), at: 0)
            p.put(UInt16(header / 8), at: 2)
            p.put(UInt16(len / 8), at: 4)
            p.put(UInt16(1), at: 6)
            p.put(transactionID, at: 8)
            p.put(UInt32(1), at: 20)
            p.put(byteCount, at: 24)
            for (i, pfn) in pfns.enumerated() { p.put(pfn, at: 32 + 8 * i) }
            p.put(bytes: payload, at: header)
            let old = Int(channel.outbound.writeIndex)
            var trailer = Bytes(count: 8)
            trailer.put(UInt64(old) << 32, at: 0)
            channel.sendRaw(p.data + trailer.data, advance: len + 8)
        }

        func pump() -> [GuestPacket] {
            h.host.waitForIdle()
            let packets = channel.receive()
            h.host.waitForIdle()
            return packets
        }

        func initialize() throws {
            for (op, fill) in [(UInt32(7), { (_: inout Bytes) in }), (9, { $0.put(UInt16(0x0602), at: 12) }), (10, { _ in }), (8, { _ in })] {
                #expect(channel.send(type: 6, flags: 1, transactionID: StorageChannelTests.rqstInit, payload: vstor(op, fill)))
                let reply = try #require(pump().first)
                #expect(reply.type == 0x0B && reply.transactionID == StorageChannelTests.rqstInit)
                #expect(reply.payload.count == 64)  // 80 bytes with the descriptor: storvsc's max_pkt_size
                #expect(Bytes(reply.payload).u32(0) == 1 && Bytes(reply.payload).u32(8) == 0)
            }
            #expect(controller.isReady)
        }
    }

    @Test func initWriteAndReadThroughTheRings() throws {
        let s = try Setup()
        try s.initialize()
        let pfns: [UInt64] = [0x900, 0x902]  // scattered guest pages
        let data = (0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try s.h.memory.write(Array(data[0..<4096]), at: GuestPhysicalAddress(pageNumber: 0x900))
        try s.h.memory.write(Array(data[4096...]), at: GuestPhysicalAddress(pageNumber: 0x902))
        let write10: [UInt8] = [0x2A, 0, 0, 0, 0, 8, 0, 0, 16, 0]
        s.sendGPADirect(s.srb(write10, dataIn: false, length: 8192), byteCount: 8192, pfns: pfns, transactionID: 41)
        let w = try #require(s.pump().first)
        #expect(w.type == 0x0B && w.transactionID == 41 && Bytes(w.payload).u8(14) == 1 && Bytes(w.payload).u32(24) == 8192)
        #expect(try s.controller.disks[0]?.disk.read(at: 8 * 512, count: 8192) == data)

        let read10: [UInt8] = [0x28, 0, 0, 0, 0, 8, 0, 0, 16, 0]
        s.sendGPADirect(s.srb(read10, dataIn: true, length: 8192), byteCount: 8192, pfns: [0xA00, 0xA01], transactionID: 42)
        let r = try #require(s.pump().first)
        #expect(r.transactionID == 42 && Bytes(r.payload).u8(14) == 1)
        #expect(try s.h.memory.read(at: GuestPhysicalAddress(pageNumber: 0xA00), count: 8192) == data)
    }

    @Test func completionsWaitForRingSpaceAndKeepTheirOrder() throws {
        let s = try Setup(pages: 8)
        try s.initialize()
        let tur = s.srb([0, 0, 0, 0, 0, 0], dataIn: false, length: 0)
        var received: [UInt64] = []
        var next: UInt64 = 1
        // More completions than the 28 KiB host → guest ring holds, without the guest reading.
        for _ in 0..<3 {
            for _ in 0..<250 {
                #expect(s.channel.send(type: 6, flags: 1, transactionID: next, payload: tur))
                next += 1
            }
            s.h.host.waitForIdle()
        }
        // Now read until quiet: each read frees space and the host sends what waited.
        for _ in 0..<20 { received += s.pump().map(\.transactionID) }
        #expect(received == Array(1..<next))
    }

    @Test func hostileGPADirectPacketsGetErrorsAndTheChannelStaysUp() throws {
        let s = try Setup()
        try s.initialize()
        let read10: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]
        // A PFN far outside the 16 MiB of guest RAM.
        s.sendGPADirect(s.srb(read10, dataIn: true, length: 512), byteCount: 512, pfns: [0xFFFF_FFFF], transactionID: 7)
        let bad = try #require(s.pump().first)
        #expect(bad.transactionID == 7 && Bytes(bad.payload).u8(14) != 1)
        // The channel still works.
        s.sendGPADirect(s.srb(read10, dataIn: true, length: 512), byteCount: 512, pfns: [0x900], transactionID: 8)
        let good = try #require(s.pump().first)
        #expect(good.transactionID == 8 && Bytes(good.payload).u8(14) == 1)
        #expect(s.h.host.phase(of: s.channel.relid) == .open)
    }
}
