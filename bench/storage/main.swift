// storage-bench: the cost of the storage VSP per request. In one process: a raw image file,
// heap-backed guest RAM, and storvsc-shaped EXECUTE_SRB packets (GPA-direct, one range, as
// Linux builds them) run through `StorageController.process` (decode, range checks, SCSI,
// guest-memory copies, completion) vs the same I/O straight on the `VirtualDisk`.
// Usage: storage-bench [MiB of image, default 256]
import Foundation
import GuestMemory
import SyntheticDevices
import VMBus
import VirtualDisk

let imageMiB = UInt64(CommandLine.arguments.dropFirst().first.flatMap { UInt64($0) } ?? 256)
let path = NSTemporaryDirectory() + "storage-bench-\(getpid()).raw"
defer { try? FileManager.default.removeItem(atPath: path) }
let disk = try RawDisk.create(path: path, size: imageMiB << 20)
// Fill once so reads hit allocated blocks (in the page cache for both sides alike).
let fill = [UInt8](repeating: 0x5A, count: 1 << 20)
for mib in 0..<imageMiB { try disk.write(at: mib << 20, fill) }

let controller = StorageController(
    instanceID: GUID("00000000-0000-4000-8000-000000000001") ?? .zero,
    disks: [0: SCSIDisk(disk: disk, path: path, identity: [1])])
let memory = GuestMemory.heapBacked(size: 64 << 20)
let bufferPage: UInt64 = 0x1000  // 16 MiB

func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { le(v).reversed() }

/// A GPA-direct EXECUTE_SRB packet for READ(10)/WRITE(10) of `bytes` at `lba`.
func packet(write: Bool, lba: UInt32, bytes: Int) -> VMBusPacket {
    let blocks = UInt16(bytes / 512)
    let cdb: [UInt8] = [write ? 0x2A : 0x28, 0] + be(lba) + [0] + be(blocks) + [0]
    var vstor = [UInt8](repeating: 0, count: 64)
    vstor.replaceSubrange(0..<4, with: le(UInt32(3)))
    vstor.replaceSubrange(4..<8, with: le(UInt32(1)))
    vstor.replaceSubrange(12..<14, with: le(UInt16(52)))
    vstor[20] = UInt8(cdb.count)
    vstor[21] = 20
    vstor[22] = write ? 0 : 1
    vstor.replaceSubrange(24..<28, with: le(UInt32(bytes)))
    vstor.replaceSubrange(28..<(28 + cdb.count), with: cdb)
    let pages = bytes / 4096
    var header = [UInt8](repeating: 0, count: 32 + 8 * pages)
    header.replaceSubrange(20..<24, with: le(UInt32(1)))
    header.replaceSubrange(24..<28, with: le(UInt32(bytes)))
    for i in 0..<pages { header.replaceSubrange((32 + 8 * i)..<(40 + 8 * i), with: le(bufferPage + UInt64(i))) }
    let all = header + vstor
    let descriptor = PacketDescriptor(
        type: .dataUsingGPADirect, offset8: UInt16(header.count / 8), len8: UInt16(all.count / 8), flags: 1, transactionID: 1)
    var bytesWithDescriptor = all
    bytesWithDescriptor.replaceSubrange(0..<16, with: [UInt8](repeating: 0, count: 16))
    return VMBusPacket(descriptor: descriptor, bytes: bytesWithDescriptor)
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func best(_ runs: Int = 3, _ body: () throws -> Void) rethrows -> Double {
    var result = Double.infinity
    for _ in 0..<runs { result = min(result, try seconds(body)) }
    return result
}

var rng = SystemRandomNumberGenerator()
let sequentialBytes = Int(imageMiB) << 20
let randomCount = 20_000
let randomLBAs = (0..<randomCount).map { _ in UInt32.random(in: 0..<UInt32((imageMiB << 20) / 4096), using: &rng) * 8 }
// Prebuilt packets: the bench times the VSP, not building the guest's packets.
let seqRead = (0..<(sequentialBytes / (512 << 10))).map { packet(write: false, lba: UInt32($0 * 1024), bytes: 512 << 10) }
let seqWrite = (0..<(sequentialBytes / (512 << 10))).map { packet(write: true, lba: UInt32($0 * 1024), bytes: 512 << 10) }
let randRead = randomLBAs.map { packet(write: false, lba: $0, bytes: 4096) }
let randWrite = randomLBAs.map { packet(write: true, lba: $0, bytes: 4096) }

func check(_ reply: [UInt8]) {
    if reply.count < 16 || reply[14] != 1 { fatalError("request failed: srb_status \(reply.count > 14 ? reply[14] : 0)") }
}

// Prime: initialize the controller as storvsc does.
for (op, version) in [(UInt32(7), UInt16(0)), (9, 0x0602), (10, 0), (8, 0)] {
    var vstor = [UInt8](repeating: 0, count: 64)
    vstor.replaceSubrange(0..<4, with: le(op))
    vstor.replaceSubrange(12..<14, with: le(version))
    _ = controller.process(
        VMBusPacket(
            descriptor: PacketDescriptor(type: .dataInband, offset8: 2, len8: 10, flags: 1, transactionID: 1),
            bytes: [UInt8](repeating: 0, count: 16) + vstor), memory: memory)
}
try memory.write([UInt8](repeating: 0xA5, count: 1 << 20), at: GuestPhysicalAddress(pageNumber: bufferPage))

struct Row { let name: String; let vsp: Double; let direct: Double; let bytes: Int; let ops: Int }
var rows: [Row] = []
rows.append(Row(
    name: "seq read 1 MiB (2 x 512 KiB SRBs)",
    vsp: best { for p in seqRead { check(controller.process(p, memory: memory)) } },
    direct: try best { for mib in 0..<Int(imageMiB) { _ = try disk.read(at: UInt64(mib) << 20, count: 1 << 20) } },
    bytes: sequentialBytes, ops: sequentialBytes >> 20))
rows.append(Row(
    name: "seq write 1 MiB (2 x 512 KiB SRBs)",
    vsp: best { for p in seqWrite { check(controller.process(p, memory: memory)) } },
    direct: try best { for mib in 0..<Int(imageMiB) { try disk.write(at: UInt64(mib) << 20, fill) } },
    bytes: sequentialBytes, ops: sequentialBytes >> 20))
let page = [UInt8](repeating: 0x3C, count: 4096)
rows.append(Row(
    name: "random read 4 KiB",
    vsp: best { for p in randRead { check(controller.process(p, memory: memory)) } },
    direct: try best { for lba in randomLBAs { _ = try disk.read(at: UInt64(lba) * 512, count: 4096) } },
    bytes: randomCount * 4096, ops: randomCount))
rows.append(Row(
    name: "random write 4 KiB",
    vsp: best { for p in randWrite { check(controller.process(p, memory: memory)) } },
    direct: try best { for lba in randomLBAs { try disk.write(at: UInt64(lba) * 512, page) } },
    bytes: randomCount * 4096, ops: randomCount))

print("storage-bench: \(imageMiB) MiB raw image, heap guest RAM, best of 3 (page-cache resident)")
for row in rows {
    let vspRate = Double(row.bytes) / row.vsp / 1e6, directRate = Double(row.bytes) / row.direct / 1e6
    print(
        String(
            format: "%@ VSP %8.0f MB/s %9.0f IOPS | direct %8.0f MB/s %9.0f IOPS | VSP/direct %.2f",
            row.name.padding(toLength: 34, withPad: " ", startingAt: 0) as NSString, vspRate, Double(row.ops) / row.vsp, directRate, Double(row.ops) / row.direct,
            row.direct / row.vsp))
}
