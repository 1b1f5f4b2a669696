#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// What kind of VHDX to create.
public enum VHDXType: Sendable, Equatable {
    /// Every block allocated up front (LeaveBlockAllocated).
    case fixed
    /// Blocks allocated on first write.
    case dynamic
    /// Blocks allocated on first write; unwritten sectors read from the parent at `parentPath`.
    case differencing(parentPath: String)
}

/// Parameters for ``VHDXDisk/create(path:options:progress:)``.
public struct VHDXCreateOptions: Sendable {
    public var virtualSize: UInt64
    public var type: VHDXType
    /// Payload block size: a power of two from 1 MiB to 256 MiB. Nil: 32 MiB, or the parent's.
    public var blockSize: UInt32?
    public var logicalSectorSize: UInt32
    public var physicalSectorSize: UInt32

    public init(virtualSize: UInt64, type: VHDXType = .dynamic, blockSize: UInt32? = nil, logicalSectorSize: UInt32 = 512, physicalSectorSize: UInt32 = 4096) {
        self.virtualSize = virtualSize
        self.type = type
        self.blockSize = blockSize
        self.logicalSectorSize = logicalSectorSize
        self.physicalSectorSize = physicalSectorSize
    }
}

extension VHDXDisk {
    /// Creates a new VHDX file and opens it read-write. Refuses to overwrite an existing file.
    /// For a differencing disk the virtual size and sector sizes come from the parent.
    /// - Parameter progress: called with (bytes done, bytes total) while a fixed disk is allocated.
    /// - Throws: ``VirtualDiskError`` (`.invalidArgument` for bad sizes or an existing file).
    public static func create(path: String, options: VHDXCreateOptions, progress: ((UInt64, UInt64) -> Void)? = nil) throws -> VHDXDisk {
        var options = options
        var locator: VHDXParentLocator?
        var parentDisk: VHDXDisk?
        if case .differencing(let parentPath) = options.type {
            let parent = try VHDXDisk.open(path: parentPath, readOnly: true)
            options.virtualSize = parent.virtualSize
            options.logicalSectorSize = parent.logicalSectorSize
            options.physicalSectorSize = parent.physicalSectorSize
            if options.blockSize == nil { options.blockSize = parent.blockSize }
            locator = VHDXParentLocator(entries: [
                ("parent_linkage", "{\(parent.dataWriteGuid)}"),
                ("relative_path", windowsPath(PathUtilities.relativePath(from: PathUtilities.directory(of: path), to: parentPath))),
                ("absolute_win32_path", windowsPath(PathUtilities.absolute(parentPath))),
            ])
            parentDisk = parent
        }
        try validate(options)
        let file = try PosixFile.create(path: path)
        do {
            try format(file: file, options: options, locator: locator, progress: progress)
        } catch {
            _ = unlink(path)
            throw error
        }
        return try VHDXDisk(file: file, readOnly: false, parent: parentDisk, path: path)
    }

    static func windowsPath(_ path: String) -> String { String(path.map { $0 == "/" ? "\\" : $0 }) }

    static func validate(_ options: VHDXCreateOptions) throws {
        let blockSize = options.blockSize ?? 32 << 20
        guard blockSize >= VHDXLayout.minBlockSize, blockSize <= VHDXLayout.maxBlockSize, blockSize.nonzeroBitCount == 1 else {
            throw VirtualDiskError(.invalidArgument, "block size \(blockSize) is invalid: use a power of two from 1M to 256M")
        }
        for (name, size) in [("logical", options.logicalSectorSize), ("physical", options.physicalSectorSize)] where size != 512 && size != 4096 {
            throw VirtualDiskError(.invalidArgument, "\(name) sector size \(size) is invalid: use 512 or 4096")
        }
        guard options.virtualSize > 0, options.virtualSize <= VHDXLayout.maxVirtualSize else {
            throw VirtualDiskError(.invalidArgument, "virtual size \(options.virtualSize) is invalid: VHDX disks hold 1 sector to 64 TiB")
        }
        guard options.virtualSize % UInt64(options.logicalSectorSize) == 0 else {
            throw VirtualDiskError(.invalidArgument, "virtual size \(options.virtualSize) is not a multiple of the \(options.logicalSectorSize)-byte sector size")
        }
    }

    /// Writes the complete structure of an empty VHDX into `file` (MS-VHDX §2):
    /// identifier, two headers, two region tables, the log, the BAT and the metadata.
    static func format(file: any DiskFile, options: VHDXCreateOptions, locator: VHDXParentLocator?, progress: ((UInt64, UInt64) -> Void)?) throws {
        let blockSize = options.blockSize ?? 32 << 20
        let isFixed = options.type == .fixed
        let geometry = VHDXGeometry(
            blockSize: blockSize, logicalSectorSize: options.logicalSectorSize, virtualSize: options.virtualSize, hasParent: locator != nil)
        let mib = VHDXLayout.mib
        let logOffset = mib
        let logLength = mib
        let batOffset = logOffset + logLength
        let batLength = max(mib, (geometry.totalBATEntries * 8 + mib - 1) / mib * mib)
        let metadataOffset = batOffset + batLength
        let metadataLength = mib
        let dataOffset = metadataOffset + metadataLength

        try file.write(at: 0, VHDXFileIdentifier(creator: "SwiftHV VirtualDisk").encoded())
        let header = VHDXHeader(
            sequenceNumber: 0, fileWriteGuid: .random(), dataWriteGuid: .random(), logGuid: .zero, logLength: UInt32(logLength),
            logOffset: logOffset)
        for (index, offset) in VHDXLayout.headerOffsets.enumerated() {
            var copy = header
            copy.sequenceNumber = UInt64(index)
            try file.write(at: offset, copy.encoded())
        }
        let regions = VHDXRegionTable(entries: [
            .init(guid: VHDXGUIDs.batRegion, fileOffset: batOffset, length: UInt32(batLength), required: true),
            .init(guid: VHDXGUIDs.metadataRegion, fileOffset: metadataOffset, length: UInt32(metadataLength), required: true),
        ])
        for offset in VHDXLayout.regionTableOffsets { try file.write(at: offset, regions.encoded()) }

        // Metadata: the table, then the items from 64 KiB on.
        var items: [(GUID, [UInt8], Bool)] = [
            (VHDXGUIDs.fileParameters, VHDXFileParameters(blockSize: blockSize, leaveBlocksAllocated: isFixed, hasParent: locator != nil).encoded(), false),
            (VHDXGUIDs.virtualDiskSize, VHDXScalarItems.encode(options.virtualSize), true),
            (VHDXGUIDs.page83Data, GUID.random().bytes, true),
            (VHDXGUIDs.logicalSectorSize, VHDXScalarItems.encode(options.logicalSectorSize), true),
            (VHDXGUIDs.physicalSectorSize, VHDXScalarItems.encode(options.physicalSectorSize), true),
        ]
        if let locator { items.append((VHDXGUIDs.parentLocator, locator.encoded(), false)) }
        var entries: [VHDXMetadataTable.Entry] = []
        var itemOffset = UInt32(VHDXMetadataTable.tableSize)
        for (guid, bytes, isVirtualDisk) in items {
            guard bytes.count <= Int(VHDXMetadataTable.maxItemLength) else { throw VirtualDiskError(.invalidArgument, "parent path is too long") }
            entries.append(.init(itemId: guid, offset: itemOffset, length: UInt32(bytes.count), isUser: false, isVirtualDisk: isVirtualDisk, isRequired: true))
            try file.write(at: metadataOffset + UInt64(itemOffset), bytes)
            itemOffset += UInt32((bytes.count + 7) / 8 * 8)
        }
        try file.write(at: metadataOffset, VHDXMetadataTable(entries: entries).encoded())

        // BAT: fixed disks map every block contiguously after the metadata.
        var bat = [UInt8](repeating: 0, count: Int(geometry.totalBATEntries * 8))
        var fileEnd = dataOffset
        if isFixed {
            for block in 0..<geometry.payloadBlocks {
                let entry = VHDXBATEntry(state: .fullyPresent, fileOffsetMB: (dataOffset + block * UInt64(blockSize)) >> 20)
                let index = geometry.payloadEntryIndex(block: block) * 8
                for byte in 0..<8 { bat[index + byte] = UInt8(truncatingIfNeeded: entry.rawValue >> (8 * UInt64(byte))) }
            }
            fileEnd = dataOffset + geometry.payloadBlocks * UInt64(blockSize)
        }
        try file.write(at: batOffset, bat)
        try file.setSize(fileEnd)
        if isFixed { try preallocate(file: file, from: dataOffset, to: fileEnd, progress: progress) }
        try file.sync()
    }

    /// Reserves the payload of a fixed disk (fallocate), reporting progress; file systems that
    /// cannot preallocate keep it sparse, which reads the same.
    static func preallocate(file: any DiskFile, from start: UInt64, to end: UInt64, progress: ((UInt64, UInt64) -> Void)?) throws {
        let total = end - start
        let step: UInt64 = 256 << 20
        var done: UInt64 = 0
        progress?(0, total)
        while done < total {
            let length = min(step, total - done)
            guard try file.preallocate(at: start + done, length: length) else { break }
            done += length
            progress?(done, total)
        }
        progress?(total, total)
    }
}
