import Synchronization

/// A read-only view of a file with some 4 KiB sectors replaced: how a VHDX whose log needs
/// replay is opened read-only (the replay happens in memory, the file is untouched).
final class OverlayFile: DiskFile {
    let base: any DiskFile
    let sectors: [UInt64: [UInt8]]
    let extendedSize: UInt64

    init(base: any DiskFile, sectors: [UInt64: [UInt8]], minimumSize: UInt64) throws {
        self.base = base
        self.sectors = sectors
        self.extendedSize = max(try base.size(), minimumSize)
    }

    var identity: String { base.identity }
    var isReadOnly: Bool { true }

    func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        var bytes = try base.read(at: offset, count: count)
        let available = min(UInt64(count), extendedSize > offset ? extendedSize - offset : 0)
        if UInt64(bytes.count) < available { bytes += [UInt8](repeating: 0, count: Int(available) - bytes.count) }
        let sectorSize = UInt64(VHDXLayout.logSectorSize)
        var sector = offset / sectorSize * sectorSize
        while sector < offset + UInt64(bytes.count) {
            if let replacement = sectors[sector] {
                for index in 0..<Int(sectorSize) {
                    let position = sector + UInt64(index)
                    if position >= offset, position < offset + UInt64(bytes.count) { bytes[Int(position - offset)] = replacement[index] }
                }
            }
            sector += sectorSize
        }
        return bytes
    }

    func write(at offset: UInt64, _ bytes: ArraySlice<UInt8>) throws { throw VirtualDiskError(.readOnly, "disk is open read-only") }
    func size() throws -> UInt64 { extendedSize }
    func setSize(_ size: UInt64) throws { throw VirtualDiskError(.readOnly, "disk is open read-only") }
    func sync() throws {}
    func punchHole(at offset: UInt64, length: UInt64) throws -> Bool { false }
    func allocatedBytes() throws -> UInt64 { try base.allocatedBytes() }
}
