import Foundation
import GuestMemory
import Testing
import TestSupport
import VMBus
import VMBusTestSupport
import VirtualDisk

@testable import SyntheticDevices

@Suite struct StorageControllerTests {
    let dir = TempDir()

    func rawGuest(size: UInt64 = 4 << 20, readOnly: Bool = false) throws -> (StorvscGuest, String) {
        let path = dir.file("disk.raw")
        if !FileManager.default.fileExists(atPath: path) { _ = try RawDisk.create(path: path, size: size) }
        let disk = try VirtualDisks.open(path: path, readOnly: readOnly)
        let guest = StorvscGuest(controller: .make([0: disk]))
        #expect(guest.initialize() != nil)
        return (guest, path)
    }

    @Test func initSequenceMatchesLinux() throws {
        let disk = try RawDisk.create(path: dir.file("a.raw"), size: 1 << 20)
        let guest = StorvscGuest(controller: .make([0: disk]))
        // EXECUTE_SRB before END_INITIALIZATION is refused with a status, not executed.
        let early = guest.send(guest.inband(guest.srb(cdb: CDB.testUnitReady, dataIn: false, length: 0)))
        #expect(early.operation == 1 && early.status != 0)
        let result = try #require(guest.initialize())
        #expect(result.version == 0x0602)
        #expect(result.maxTransfer == 512 * 1024)
        #expect(guest.controller.isReady)
        #expect(guest.controller.protocolVersion == .win10)
        // A version storvsc never asks for is refused with REVISION_MISMATCH.
        let old = guest.send(guest.inband(guest.vstor(9) { $0.put(UInt16(0x0200), at: 12) }))
        #expect(old.status == 0xC000_0059)
        // Unknown operations get a status; sub-channels are not offered.
        #expect(guest.send(guest.inband(guest.vstor(0x77))).status != 0)
        #expect(guest.send(guest.inband(guest.vstor(13))).status != 0)
    }

    @Test func completionsFitTheGuestsEightyBytes() throws {
        let (guest, _) = try rawGuest()
        let (c, _) = try guest.command(CDB.inquiry(), length: 96)
        #expect(c.raw.data.count == 64)  // + 16-byte descriptor = 80 (storvsc max_pkt_size)
    }

    @Test func inquiryAndVPDPages() throws {
        let (guest, _) = try rawGuest()
        let (c, data) = try guest.command(CDB.inquiry(length: 36), length: 36)
        #expect(c.srbStatus == 1 && c.scsiStatus == 0 && c.transferLength == 36)
        #expect(data[0] == 0x00 && data[2] >= 5)
        #expect(String(decoding: data[8..<16], as: UTF8.self) == "Msft    ")
        let (p0, page0) = try guest.command(CDB.inquiry(evpd: true, page: 0, length: 255), length: 255)
        #expect(p0.transferLength == 10)
        #expect(Array(page0[4..<10]) == [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2])
        for page: UInt8 in [0x80, 0x83, 0xB0, 0xB1, 0xB2] {
            let (pc, pd) = try guest.command(CDB.inquiry(evpd: true, page: page, length: 255), length: 255)
            #expect(pc.scsiStatus == 0 && pd[1] == page && pc.transferLength == UInt32(4 + Int(pd[3])))
        }
        let (b1, b1Data) = try guest.command(CDB.inquiry(evpd: true, page: 0xB1, length: 64), length: 64)
        #expect(b1.scsiStatus == 0 && b1Data[5] == 1)  // non-rotating
        // An unknown VPD page: CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB.
        let (bad, _) = try guest.command(CDB.inquiry(evpd: true, page: 0xC7, length: 64), length: 64)
        #expect(bad.scsiStatus == 2 && bad.srbStatus == 0x84 && bad.senseKey == 5 && bad.asc == 0x24)
    }

    @Test func readCapacityAndModeSense() throws {
        let (guest, _) = try rawGuest(size: 4 << 20)
        let (c10, d10) = try guest.command(CDB.readCapacity10, length: 8)
        #expect(c10.transferLength == 8)
        #expect(Bytes(d10.reversed()).u32(4) == 8191)  // last LBA, big-endian
        #expect(d10[4...7] == [0, 0, 2, 0])
        let (c16, d16) = try guest.command(CDB.readCapacity16, length: 32)
        #expect(c16.transferLength == 32)
        #expect(Array(d16[0..<8]) == [0, 0, 0, 0, 0, 0, 0x1F, 0xFF])
        let (m6, ms6) = try guest.command(CDB.modeSense6(page: 0x3F), length: 192)
        #expect(m6.scsiStatus == 0 && ms6[2] & 0x80 == 0)  // not write-protected
        let (m10, ms10) = try guest.command(CDB.modeSense10(page: 0x08), length: 512)
        #expect(m10.scsiStatus == 0 && ms10[8] == 0x08 && ms10[10] & 0x04 != 0)  // caching page, WCE
    }

    @Test func reportLUNsAndAbsentUnits() throws {
        let a = try RawDisk.create(path: dir.file("a.raw"), size: 1 << 20)
        let b = try RawDisk.create(path: dir.file("b.raw"), size: 1 << 20)
        let guest = StorvscGuest(controller: .make([0: a, 3: b]))
        _ = try #require(guest.initialize())
        let (c, data) = try guest.command(CDB.reportLUNs(), length: 512)
        #expect(c.transferLength == 24)
        #expect(Array(data[0..<4]) == [0, 0, 0, 16])
        #expect(data[9] == 0 && data[17] == 3)
        // Another target: no LUNs; INQUIRY says "no device" (PQ 3); other commands INVALID_LUN.
        let (other, otherData) = try guest.command(CDB.reportLUNs(), target: 1, length: 512)
        #expect(other.transferLength == 8 && otherData[3] == 0)
        let (absent, absentData) = try guest.command(CDB.inquiry(length: 36), lun: 1, length: 36)
        #expect(absent.srbStatus == 1 && absentData[0] == 0x7F)
        let (tur, _) = try guest.command(CDB.testUnitReady, lun: 1, dataIn: false, length: 0)
        #expect(tur.srbStatus == 0x20)
    }

    @Test func unsupportedOpcodeIsIllegalRequest() throws {
        let (guest, _) = try rawGuest()
        let (c, _) = try guest.command([0xC3, 0, 0, 0, 0, 0], length: 512)
        #expect(c.scsiStatus == 2 && c.srbStatus == 0x84)
        #expect(c.senseLength == 18 && c.sense[0] == 0x70 && c.senseKey == 5 && c.asc == 0x20)
    }

    func readWriteRoundTrip(_ guest: StorvscGuest, disk: any VirtualDisk) throws {
        var rng = SplitMix64(seed: 7)
        let block = (0..<(64 * 1024)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // WRITE(10) of 128 sectors at LBA 100 from an unaligned buffer (offset 0x200 in its page).
        let (w, _) = try guest.command(CDB.write10(lba: 100, blocks: 128), dataIn: false, length: block.count, data: block, offset: 0x200)
        #expect(w.srbStatus == 1 && w.scsiStatus == 0 && w.transferLength == UInt32(block.count))
        #expect(try disk.read(at: 100 * 512, count: block.count) == block)
        // READ(16) returns the same bytes into guest memory.
        let (r, data) = try guest.command(CDB.read16(lba: 100, blocks: 128), length: block.count, offset: 0x600)
        #expect(r.srbStatus == 1 && r.transferLength == UInt32(block.count))
        #expect(data == block)
        // READ(6) and SYNCHRONIZE CACHE.
        let (r6, d6) = try guest.command(CDB.read6(lba: 100, blocks: 1), length: 512)
        #expect(r6.srbStatus == 1 && d6 == Array(block[0..<512]))
        let (sync, _) = try guest.command(CDB.synchronizeCache10, dataIn: false, length: 0)
        #expect(sync.srbStatus == 1)
        let stats = try #require(guest.controller.lunStatus.first).statistics
        #expect(stats.writes == 1 && stats.reads == 2 && stats.bytesWritten == UInt64(block.count) && stats.flushes == 1)
    }

    @Test func readWriteRawDisk() throws {
        let disk = try RawDisk.create(path: dir.file("rw.raw"), size: 8 << 20)
        let guest = StorvscGuest(controller: .make([0: disk]))
        _ = try #require(guest.initialize())
        try readWriteRoundTrip(guest, disk: disk)
    }

    @Test func readWriteVHDXDisk() throws {
        let disk = try VHDXDisk.create(path: dir.file("rw.vhdx"), options: VHDXCreateOptions(virtualSize: 8 << 20))
        let guest = StorvscGuest(controller: .make([0: disk]))
        _ = try #require(guest.initialize())
        try readWriteRoundTrip(guest, disk: disk)
    }

    @Test func outOfRangeAndOversizedTransfers() throws {
        let (guest, _) = try rawGuest(size: 1 << 20)
        let (past, _) = try guest.command(CDB.read10(lba: 2047, blocks: 2), length: 1024)
        #expect(past.scsiStatus == 2 && past.senseKey == 5 && past.asc == 0x21)
        let (wrap, _) = try guest.command(CDB.read16(lba: UInt64.max, blocks: 2), length: 1024)
        #expect(wrap.scsiStatus == 2 && wrap.asc == 0x21)
        // CDB asks for more than the buffer holds.
        let (short, _) = try guest.command(CDB.read10(lba: 0, blocks: 8), length: 512)
        #expect(short.scsiStatus == 2 && short.asc == 0x24)
    }

    @Test func readOnlyDiskRefusesWrites() throws {
        let path = dir.file("ro.raw")
        let rw = try RawDisk.create(path: path, size: 1 << 20)
        try rw.write(at: 0, [UInt8](repeating: 0xAB, count: 512))
        try rw.close()
        let disk = try VirtualDisks.open(path: path, readOnly: true)
        let ro = StorvscGuest(controller: .make([0: disk]))
        _ = try #require(ro.initialize())
        let (ms, data) = try ro.command(CDB.modeSense6(page: 0x3F), length: 192)
        #expect(ms.scsiStatus == 0 && data[2] & 0x80 != 0)  // WP
        let (w, _) = try ro.command(CDB.write10(lba: 0, blocks: 1), dataIn: false, length: 512, data: [UInt8](repeating: 1, count: 512))
        #expect(w.scsiStatus == 2 && w.senseKey == 7 && w.asc == 0x27)
        let (r, rd) = try ro.command(CDB.read10(lba: 0, blocks: 1), length: 512)
        #expect(r.srbStatus == 1 && rd == [UInt8](repeating: 0xAB, count: 512))
    }

    @Test func hostileBuffersGetErrorStatus() throws {
        let (guest, _) = try rawGuest()
        let cdb = CDB.read10(lba: 0, blocks: 1)
        let srb = guest.srb(cdb: cdb, dataIn: true, length: 512)
        // A PFN outside guest RAM (8 MiB), one at the top of the address space, and a huge length.
        for (pfns, count): ([UInt64], UInt32) in [([0x10_0000], 512), ([UInt64.max >> 12], 512), ([0x100], 0xFFFF_FFFF)] {
            let packet = guest.gpaDirect(srb, byteCount: count, byteOffset: 0, pfns: pfns)
            let c = guest.send(packet)
            #expect(c.operation == 1 && c.srbStatus != 1)
        }
        // A zero CDB length and a 17-byte CDB length.
        for length: UInt8 in [0, 17] {
            var bad = Bytes(srb)
            bad.put(length, at: 20)
            #expect(guest.send(guest.inband(bad.data)).status != 0)
        }
    }

    @Test func seededRandomPacketsNeverCrash() throws {
        let (guest, _) = try rawGuest()
        var rng = SplitMix64(seed: 0x5707)
        for round in 0..<3000 {
            var payload = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if payload.count >= 4, round % 2 == 0 {
                // Mostly valid operations, so the random bytes reach the SRB and SCSI parsers.
                payload[0] = UInt8.random(in: 1...13, using: &rng)
                payload[1] = 0
                payload[2] = 0
                payload[3] = 0
            }
            if payload.count > 20, round % 4 == 0 { payload[20] = UInt8.random(in: 1...16, using: &rng) }
            let packet: VMBusPacket
            if round % 3 == 0 {
                let pfns = (0..<Int.random(in: 1...3, using: &rng)).map { _ in
                    round % 6 == 0 ? UInt64.random(in: 0x100...0x110, using: &rng) : rng.next()
                }
                packet = guest.gpaDirect(
                    payload, byteCount: UInt32.random(in: 0...12288, using: &rng), byteOffset: UInt32.random(in: 0...5000, using: &rng),
                    pfns: pfns)
            } else {
                packet = guest.inband(payload)
            }
            let c = guest.send(packet)
            #expect(c.raw.data.count == 64)
        }
    }
}
