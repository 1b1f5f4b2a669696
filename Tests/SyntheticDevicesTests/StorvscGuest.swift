import Foundation
import GuestMemory
import VMBus
import VirtualDisk
import VMBusTestSupport

@testable import SyntheticDevices

// A storvsc-like guest for unit tests, written from Linux drivers/scsi/storvsc_drv.c (packet
// layout by hand, not the host's encoders): builds vstor packets, places data buffers in heap
// guest memory and calls the controller's packet handler directly.

/// The completion as the guest reads it.
struct Completion {
    let raw: Bytes
    var operation: UInt32 { raw.u32(0) }
    var status: UInt32 { raw.u32(8) }
    var srbStatus: UInt8 { raw.u8(14) }
    var scsiStatus: UInt8 { raw.u8(15) }
    var senseLength: UInt8 { raw.u8(21) }
    var transferLength: UInt32 { raw.u32(24) }
    var sense: [UInt8] { Array(raw.data[28..<(28 + Int(min(senseLength, 20)))]) }
    var senseKey: UInt8 { sense.count > 2 ? sense[2] & 0xF : 0xFF }
    var asc: UInt8 { sense.count > 12 ? sense[12] : 0xFF }
}

final class StorvscGuest {
    let memory: GuestMemory
    let controller: StorageController
    /// Where data buffers go: page 0x100 on (1 MiB).
    let bufferPage: UInt64 = 0x100

    init(controller: StorageController, memorySize: UInt64 = 8 << 20) {
        memory = GuestMemory.heapBacked(size: memorySize)
        self.controller = controller
    }

    /// The guest's `vstor_packet` for an operation.
    func vstor(_ operation: UInt32, fill: (inout Bytes) -> Void = { _ in }) -> [UInt8] {
        var p = Bytes(count: 64)
        p.put(operation, at: 0)
        p.put(UInt32(1), at: 4)  // REQUEST_COMPLETION_FLAG
        fill(&p)
        return p.data
    }

    /// An in-band packet (type 6) with the payload at offset 16.
    func inband(_ payload: [UInt8], transactionID: UInt64 = 1) -> VMBusPacket {
        let len = (16 + payload.count + 7) & ~7
        var b = Bytes(count: len)
        b.put(UInt16(6), at: 0)
        b.put(UInt16(2), at: 2)
        b.put(UInt16(len / 8), at: 4)
        b.put(UInt16(1), at: 6)
        b.put(transactionID, at: 8)
        for (i, x) in payload.enumerated() { b.data[16 + i] = x }
        return VMBusPacket(
            descriptor: PacketDescriptor(type: .dataInband, offset8: 2, len8: UInt16(len / 8), flags: 1, transactionID: transactionID),
            bytes: b.data)
    }

    /// A GPA-direct packet (type 9): one range `{count, offset, pfns}` (vmbus_packet_mpb_array).
    func gpaDirect(_ payload: [UInt8], byteCount: UInt32, byteOffset: UInt32, pfns: [UInt64], transactionID: UInt64 = 2) -> VMBusPacket {
        let header = 16 + 8 + 8 + 8 * pfns.count
        let len = (header + payload.count + 7) & ~7
        var b = Bytes(count: len)
        b.put(UInt16(9), at: 0)
        b.put(UInt16(header / 8), at: 2)
        b.put(UInt16(len / 8), at: 4)
        b.put(UInt16(1), at: 6)
        b.put(transactionID, at: 8)
        b.put(UInt32(1), at: 20)  // rangecount
        b.put(byteCount, at: 24)
        b.put(byteOffset, at: 28)
        for (i, pfn) in pfns.enumerated() { b.put(pfn, at: 32 + 8 * i) }
        for (i, x) in payload.enumerated() { b.data[header + i] = x }
        return VMBusPacket(
            descriptor: PacketDescriptor(
                type: .dataUsingGPADirect, offset8: UInt16(header / 8), len8: UInt16(len / 8), flags: 1,
                transactionID: transactionID),
            bytes: b.data)
    }

    func send(_ packet: VMBusPacket) -> Completion {
        let payload = Array(packet.bytes[(Int(packet.descriptor.offset8) * 8)...])
        let request = (try? VStorPacket.decode(payload)) ?? VStorPacket(operation: .init(rawValue: 0), flags: 0, body: [])
        let reply = controller.handle(request, packet: packet, memory: memory)
        return Completion(raw: Bytes(reply))
    }

    /// storvsc_channel_init: BEGIN, QUERY_PROTOCOL_VERSION (WIN10, WIN8_1, WIN8), QUERY_PROPERTIES, END.
    /// - Returns: the accepted version and max_transfer_bytes, or nil on failure.
    func initialize() -> (version: UInt16, maxTransfer: UInt32)? {
        guard send(inband(vstor(7))).status == 0 else { return nil }
        var accepted: UInt16?
        for version: UInt16 in [0x0602, 0x0600, 0x0501] {
            let c = send(inband(vstor(9) { $0.put(version, at: 12) }))
            if c.operation == 1, c.status == 0 {
                accepted = version
                break
            }
        }
        guard let accepted else { return nil }
        let properties = send(inband(vstor(10)))
        guard properties.status == 0 else { return nil }
        guard send(inband(vstor(8))).status == 0 else { return nil }
        return (accepted, properties.raw.u32(24))
    }

    /// An EXECUTE_SRB `vstor_packet` (storvsc_queuecommand).
    func srb(cdb: [UInt8], lun: UInt8 = 0, path: UInt8 = 0, target: UInt8 = 0, dataIn: Bool, length: UInt32) -> [UInt8] {
        vstor(3) { p in
            p.put(UInt16(52), at: 12)
            p.put(path, at: 17)
            p.put(target, at: 18)
            p.put(lun, at: 19)
            p.put(UInt8(cdb.count), at: 20)
            p.put(UInt8(20), at: 21)
            p.put(UInt8(dataIn ? 1 : 0), at: 22)
            p.put(length, at: 24)
            for (i, x) in cdb.enumerated() { p.data[28 + i] = x }
            p.put(UInt32(60), at: 56)
        }
    }

    /// Runs a command with a data buffer of `length` bytes at `bufferPage` (+ `offset`).
    /// For writes, `data` is copied into the buffer first. Returns the completion and the buffer.
    func command(
        _ cdb: [UInt8], lun: UInt8 = 0, path: UInt8 = 0, target: UInt8 = 0, dataIn: Bool = true, length: Int,
        data: [UInt8] = [], offset: UInt32 = 0
    ) throws -> (Completion, [UInt8]) {
        let start = GuestPhysicalAddress(pageNumber: bufferPage).advanced(by: UInt64(offset))!
        if length == 0 {
            return (send(inband(srb(cdb: cdb, lun: lun, path: path, target: target, dataIn: dataIn, length: 0))), [])
        }
        try memory.fill(at: start, count: length, with: 0xCC)
        if !data.isEmpty { try memory.write(data, at: start) }
        let pages = (Int(offset) + length + 4095) / 4096
        let pfns = (0..<UInt64(pages)).map { bufferPage + $0 }
        let c = send(
            gpaDirect(
                srb(cdb: cdb, lun: lun, path: path, target: target, dataIn: dataIn, length: UInt32(length)),
                byteCount: UInt32(length), byteOffset: offset, pfns: pfns))
        return (c, try memory.read(at: start, count: length))
    }
}

/// CDB builders (big-endian fields).
enum CDB {
    static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
    }
    static func inquiry(evpd: Bool = false, page: UInt8 = 0, length: UInt16 = 96) -> [UInt8] {
        [0x12, evpd ? 1 : 0, page] + be(length) + [0]
    }
    static func read10(lba: UInt32, blocks: UInt16) -> [UInt8] { [0x28, 0] + be(lba) + [0] + be(blocks) + [0] }
    static func write10(lba: UInt32, blocks: UInt16, fua: Bool = false) -> [UInt8] {
        [0x2A, fua ? 0x08 : 0] + be(lba) + [0] + be(blocks) + [0]
    }
    static func read16(lba: UInt64, blocks: UInt32) -> [UInt8] { [0x88, 0] + be(lba) + be(blocks) + [0, 0] }
    static func write16(lba: UInt64, blocks: UInt32) -> [UInt8] { [0x8A, 0] + be(lba) + be(blocks) + [0, 0] }
    static func read6(lba: UInt32, blocks: UInt8) -> [UInt8] {
        [0x08, UInt8((lba >> 16) & 0x1F), UInt8((lba >> 8) & 0xFF), UInt8(lba & 0xFF), blocks, 0]
    }
    static let readCapacity10: [UInt8] = [0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    static let readCapacity16: [UInt8] = [0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0]
    static func reportLUNs(length: UInt32 = 512) -> [UInt8] { [0xA0, 0, 0, 0, 0, 0] + be(length) + [0, 0] }
    static func modeSense6(page: UInt8, length: UInt8 = 192) -> [UInt8] { [0x1A, 0x08, page, 0, length, 0] }
    static func modeSense10(page: UInt8, length: UInt16 = 512) -> [UInt8] { [0x5A, 0x08, page, 0, 0, 0, 0] + be(length) + [0] }
    static let synchronizeCache10: [UInt8] = [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    static let testUnitReady: [UInt8] = [0, 0, 0, 0, 0, 0]
}

/// A scratch directory removed at deinit.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "storvsp-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

extension StorageController {
    /// A controller with one raw (or VHDX) disk per LUN given.
    static func make(_ disks: [UInt8: any VirtualDisk]) -> StorageController {
        var scsi: [UInt8: SCSIDisk] = [:]
        for (lun, disk) in disks {
            scsi[lun] = SCSIDisk(disk: disk, path: "lun\(lun)", identity: Array(repeating: lun &+ 1, count: 16))
        }
        return StorageController(instanceID: GUID("12345678-1234-5678-9abc-def012345678")!, disks: scsi)
    }
}
