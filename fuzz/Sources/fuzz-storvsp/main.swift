import FuzzDriver
import GuestMemory
import Synchronization
import SyntheticDevices
import VMBus
import VirtualDisk

/// Guest → host storvsc traffic from fuzz input, straight into `StorageController.process`
/// (what the channel runs for each packet): records `[kind: u8][length: u8][bytes]`. Even kinds
/// are in-band packets (`bytes` is the vstor_packet); odd kinds are GPA-direct, `bytes` being the
/// range header (`u32 reserved, u32 rangecount, ranges`) then the vstor_packet at the first
/// 8-byte boundary past `kind >> 1` bytes. The controller is initialized first, so most inputs
/// reach the SCSI target; a 1 MiB in-memory raw disk at LUN 0 and 1 MiB of guest RAM. Any
/// crash, trap or sanitizer report is a bug.
final class MemoryFile: DiskFile {
    let bytes = Mutex([UInt8](repeating: 0, count: 1 << 20))
    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        bytes.withLock { b in
            guard offset < UInt64(b.count), count > 0 else { return [] }
            let start = Int(offset)
            return Array(b[start..<min(b.count, start + count)])
        }
    }
    func write(at offset: UInt64, _ data: ArraySlice<UInt8>) throws {
        bytes.withLock { b in
            guard offset < UInt64(b.count) else { return }
            let start = Int(offset)
            let end = min(b.count, start + data.count)
            b.replaceSubrange(start..<end, with: data.prefix(end - start))
        }
    }
    func size() throws -> UInt64 { 1 << 20 }
    func setSize(_ size: UInt64) throws {}
    func sync() throws {}
    func punchHole(at offset: UInt64, length: UInt64) throws -> Bool { false }
    func allocatedBytes() throws -> UInt64 { 1 << 20 }
    var identity: String { "memory" }
    var isReadOnly: Bool { false }
}

let memory = GuestMemory.heapBacked(size: 1 << 20)

func packet(type: VMBusPacketType, header: [UInt8], payload: [UInt8]) -> VMBusPacket {
    let headerLength = (16 + header.count + 7) & ~7
    var bytes = [UInt8](repeating: 0, count: headerLength)
    bytes.replaceSubrange(16..<(16 + header.count), with: header)
    bytes += payload
    bytes += [UInt8](repeating: 0, count: (8 - bytes.count % 8) % 8)
    return VMBusPacket(
        descriptor: PacketDescriptor(
            type: type, offset8: UInt16(headerLength / 8), len8: UInt16(bytes.count / 8), flags: 1, transactionID: 1),
        bytes: bytes)
}

func inbandInit(_ operation: UInt32, version: UInt16 = 0) -> VMBusPacket {
    var vstor = [UInt8](repeating: 0, count: 64)
    for i in 0..<4 { vstor[i] = UInt8(truncatingIfNeeded: operation >> (8 * i)) }
    vstor[12] = UInt8(version & 0xFF)
    vstor[13] = UInt8(version >> 8)
    return packet(type: .dataInband, header: [], payload: vstor)
}

runFuzzer { bytes in
    guard let disk = try? RawDisk(file: MemoryFile()) else { return }
    let controller = StorageController(
        instanceID: .zero, disks: [0: SCSIDisk(disk: disk, path: "fuzz", identity: [1])])
    for (operation, version) in [(UInt32(7), UInt16(0)), (9, 0x0602), (10, 0), (8, 0)] {
        _ = controller.process(inbandInit(operation, version: version), memory: memory)
    }
    var i = 0
    while i + 2 <= bytes.count {
        let kind = bytes[i]
        let length = min(Int(bytes[i + 1]), bytes.count - i - 2)
        let body = Array(bytes[(i + 2)..<(i + 2 + length)])
        i += 2 + length
        let reply: [UInt8]
        if kind & 1 == 0 {
            reply = controller.process(packet(type: .dataInband, header: [], payload: body), memory: memory)
        } else {
            let split = min(body.count, Int(kind >> 1))
            reply = controller.process(
                packet(type: .dataUsingGPADirect, header: Array(body[..<split]), payload: Array(body[split...])), memory: memory)
        }
        precondition(reply.count == 64, "completion of \(reply.count) bytes")
    }
}
