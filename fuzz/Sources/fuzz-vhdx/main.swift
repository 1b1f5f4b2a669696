import FuzzDriver
import Synchronization
import VirtualDisk

/// A VHDX file from fuzz input, opened read-only from memory, then read at a few offsets.
/// Hostile files must be refused with an error: no crash, hang or unbounded allocation.
final class MemoryFile: DiskFile {
    let bytes: Mutex<[UInt8]>
    init(_ bytes: [UInt8]) { self.bytes = Mutex(bytes) }
    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        bytes.withLock { b in
            guard offset < UInt64(b.count), count > 0 else { return [] }
            let start = Int(offset)
            return Array(b[start..<min(b.count, start + count)])
        }
    }
    func write(at offset: UInt64, _ data: ArraySlice<UInt8>) throws { throw MemoryFileError.readOnly }
    func size() throws -> UInt64 { UInt64(bytes.withLock { $0.count }) }
    func setSize(_ size: UInt64) throws { throw MemoryFileError.readOnly }
    func sync() throws {}
    func punchHole(at offset: UInt64, length: UInt64) throws -> Bool { false }
    func allocatedBytes() throws -> UInt64 { try size() }
    var identity: String { "fuzz-input" }
    var isReadOnly: Bool { true }
}

enum MemoryFileError: Error { case readOnly }

runFuzzer { bytes in
    let file = MemoryFile(bytes)
    guard let disk = try? VHDXDisk(file: file, readOnly: true, requireParent: false) else { return }
    for offset in [0, disk.virtualSize / 2, disk.virtualSize &- 512] where offset < disk.virtualSize {
        _ = try? disk.read(at: offset, count: 512)
    }
}
