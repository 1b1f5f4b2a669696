/// What `disk inspect` reports about an image.
public struct DiskInfo: Sendable, Codable, Equatable {
    public var path: String
    public var format: DiskFormat
    /// `raw`, `fixed`, `dynamic` or `differencing`.
    public var type: String
    public var virtualSize: UInt64
    public var blockSize: UInt32
    public var logicalSectorSize: UInt32
    public var physicalSectorSize: UInt32
    /// Size of the image file.
    public var fileSize: UInt64
    /// Guest data held by this file: allocated blocks for VHDX, host-allocated bytes for raw.
    public var allocatedBytes: UInt64
    /// Parents from nearest to farthest (differencing disks only).
    public var parentChain: [String]

    /// Inspects an image without modifying it.
    public static func inspect(path: String) throws -> DiskInfo {
        let file = try PosixFile(path: path, readOnly: true)
        switch try DiskFormat.detect(path: path) {
        case .raw:
            let disk = try RawDisk(file: file, path: path)
            return DiskInfo(
                path: path, format: .raw, type: "raw", virtualSize: disk.virtualSize, blockSize: disk.blockSize,
                logicalSectorSize: disk.logicalSectorSize, physicalSectorSize: disk.physicalSectorSize, fileSize: try file.size(),
                allocatedBytes: try file.allocatedBytes(), parentChain: [])
        case .vhdx:
            let disk = try VHDXDisk.open(path: path, readOnly: true)
            defer { try? disk.close() }
            var chain: [String] = []
            var cursor = disk.parent as? VHDXDisk
            while let current = cursor {
                chain.append(current.path ?? "?")
                cursor = current.parent as? VHDXDisk
            }
            return DiskInfo(
                path: path, format: .vhdx, type: disk.hasParent ? "differencing" : disk.isFixed ? "fixed" : "dynamic",
                virtualSize: disk.virtualSize, blockSize: disk.blockSize, logicalSectorSize: disk.logicalSectorSize,
                physicalSectorSize: disk.physicalSectorSize, fileSize: try file.size(),
                allocatedBytes: try disk.allocatedRanges().reduce(0) { $0 + $1.length }, parentChain: chain)
        }
    }
}

extension VHDXDisk {
    /// Guest byte ranges whose data is stored in this file (not the parent, not zero blocks),
    /// in ascending order, adjacent ranges merged.
    public func allocatedRanges() throws -> [(offset: UInt64, length: UInt64)] {
        try state.withLock { state in
            let geometry = state.image.geometry
            let blockSize = UInt64(geometry.blockSize)
            let sector = UInt64(state.image.logicalSectorSize)
            var ranges: [(offset: UInt64, length: UInt64)] = []
            func add(_ offset: UInt64, _ length: UInt64) {
                let length = min(length, state.image.virtualSize - min(offset, state.image.virtualSize))
                guard length > 0 else { return }
                if let last = ranges.last, last.offset + last.length == offset {
                    ranges[ranges.count - 1].length += length
                } else {
                    ranges.append((offset, length))
                }
            }
            for block in 0..<geometry.payloadBlocks {
                let entry = VHDXBATEntry(rawValue: state.bat[geometry.payloadEntryIndex(block: block)])
                if entry.state == .fullyPresent {
                    add(block * blockSize, blockSize)
                } else if entry.state == .partiallyPresent, let bitmap = bitmapOffset(state, block: block) {
                    let bits = try file.readZeroFilled(at: bitmap, count: Int(geometry.sectorsPerBlock / 8))
                    for s in 0..<geometry.sectorsPerBlock where bits[Int(s / 8)] & (1 << UInt8(s % 8)) != 0 {
                        add(block * blockSize + s * sector, sector)
                    }
                }
            }
            return ranges
        }
    }
}
