/// Everything learned from validating a VHDX file's fixed structures: the current header,
/// regions, metadata items and BAT geometry. Built by ``VHDXImage/load(file:)``; the runtime
/// disk (``VHDXDisk``) keeps it as its starting state.
struct VHDXImage {
    struct Region: Equatable {
        var offset: UInt64
        var length: UInt64
        var end: UInt64 { offset + length }
    }

    var creator: String
    var header: VHDXHeader
    /// Index (0 or 1) of the header copy `header` came from.
    var headerIndex: Int
    var bat: Region
    var metadata: Region
    var log: Region
    var metadataTable: VHDXMetadataTable
    var parameters: VHDXFileParameters
    var virtualSize: UInt64
    var logicalSectorSize: UInt32
    var physicalSectorSize: UInt32
    var page83: GUID
    var parentLocator: VHDXParentLocator?
    /// File offset of the virtual-disk-size item (for resize).
    var virtualSizeItemOffset: UInt64

    /// Hostile-input caps: the log and metadata regions are read whole, the BAT as entries.
    static let maxLogLength: UInt64 = 256 << 20
    static let maxBATLength: UInt64 = 1 << 30

    var geometry: VHDXGeometry {
        VHDXGeometry(
            blockSize: parameters.blockSize, logicalSectorSize: logicalSectorSize, virtualSize: virtualSize,
            hasParent: parameters.hasParent)
    }

    /// Reads and validates the header section, region table and metadata (not the BAT).
    static func load(file: any DiskFile) throws -> VHDXImage {
        let fileSize = try file.size()
        guard fileSize >= VHDXLayout.headerSectionSize else {
            throw VirtualDiskError.corrupt("file is \(fileSize) bytes, smaller than a VHDX header section (1 MiB): truncated or not a VHDX")
        }
        let identifier = try VHDXFileIdentifier(
            parsing: try file.readExactly(at: 0, count: VHDXFileIdentifier.encodedSize, what: "file identifier"))

        // Headers: the valid copy with the highest sequence number wins (§2.2.2.1).
        var best: (VHDXHeader, Int)?
        var problems: [String] = []
        for (index, offset) in VHDXLayout.headerOffsets.enumerated() {
            do {
                let header = try VHDXHeader(
                    parsing: try file.readExactly(at: offset, count: VHDXLayout.headerSize, what: "header \(index + 1)"))
                if best == nil || header.sequenceNumber > (best?.0.sequenceNumber ?? 0) { best = (header, index) }
            } catch {
                problems.append("header \(index + 1): \(error)")
            }
        }
        guard let (header, headerIndex) = best else {
            throw VirtualDiskError.corrupt("no valid VHDX header (\(problems.joined(separator: "; ")))")
        }
        let log = Region(offset: header.logOffset, length: UInt64(header.logLength))
        guard log.length <= maxLogLength else { throw VirtualDiskError(.unsupported, "VHDX log of \(log.length) bytes exceeds the 256 MiB limit") }

        // Region table: the first valid copy (both are written identically).
        var table: VHDXRegionTable?
        problems = []
        for (index, offset) in VHDXLayout.regionTableOffsets.enumerated() where table == nil {
            do {
                table = try VHDXRegionTable(
                    parsing: try file.readExactly(at: offset, count: VHDXLayout.regionTableSize, what: "region table \(index + 1)"))
            } catch {
                problems.append("region table \(index + 1): \(error)")
            }
        }
        guard let table else { throw VirtualDiskError.corrupt("no valid VHDX region table (\(problems.joined(separator: "; ")))") }
        var bat: Region?
        var metadata: Region?
        var occupied: [(String, Region)] = []
        if log.length > 0 { occupied.append(("log", log)) }
        for entry in table.entries {
            let region = Region(offset: entry.fileOffset, length: UInt64(entry.length))
            let name: String
            if entry.guid == VHDXGUIDs.batRegion {
                guard bat == nil else { throw VirtualDiskError.corrupt("VHDX region table lists the BAT twice") }
                bat = region
                name = "BAT"
            } else if entry.guid == VHDXGUIDs.metadataRegion {
                guard metadata == nil else { throw VirtualDiskError.corrupt("VHDX region table lists the metadata region twice") }
                metadata = region
                name = "metadata"
            } else if entry.required {
                throw VirtualDiskError(.unsupported, "VHDX file requires unknown region \(entry.guid)")
            } else {
                name = "region \(entry.guid)"
            }
            guard region.offset >= VHDXLayout.headerSectionSize, region.offset % VHDXLayout.mib == 0,
                region.length > 0, region.length % VHDXLayout.mib == 0
            else {
                throw VirtualDiskError.corrupt("VHDX \(name) region (offset \(region.offset), length \(region.length)) is not 1 MiB aligned past the header section")
            }
            guard region.end <= fileSize else {
                throw VirtualDiskError.corrupt("VHDX \(name) region ends at \(region.end), past the end of the file (\(fileSize) bytes): truncated")
            }
            occupied.append((name, region))
        }
        for (i, a) in occupied.enumerated() {
            for b in occupied[(i + 1)...] where a.1.offset < b.1.end && b.1.offset < a.1.end {
                throw VirtualDiskError.corrupt("VHDX \(a.0) and \(b.0) regions overlap")
            }
        }
        guard let bat else { throw VirtualDiskError.corrupt("VHDX region table has no BAT region") }
        guard let metadata else { throw VirtualDiskError.corrupt("VHDX region table has no metadata region") }
        guard bat.length <= maxBATLength else { throw VirtualDiskError(.unsupported, "VHDX BAT of \(bat.length) bytes exceeds the 1 GiB limit") }
        guard log.length == 0 || log.end <= fileSize else { throw VirtualDiskError.corrupt("VHDX log ends past the end of the file: truncated") }

        var image = try loadMetadata(file: file, region: metadata)
        image.creator = identifier.creator
        image.header = header
        image.headerIndex = headerIndex
        image.bat = bat
        image.log = log
        let needed = image.geometry.totalBATEntries * 8
        guard needed <= bat.length else {
            throw VirtualDiskError.corrupt("VHDX BAT region (\(bat.length) bytes) is too small for \(image.geometry.totalBATEntries) entries")
        }
        return image
    }

    /// Parses the metadata table and the required items (§2.6).
    private static func loadMetadata(file: any DiskFile, region: Region) throws -> VHDXImage {
        let table = try VHDXMetadataTable(
            parsing: try file.readExactly(at: region.offset, count: VHDXMetadataTable.tableSize, what: "metadata table"))
        var items: [GUID: (VHDXMetadataTable.Entry, [UInt8])] = [:]
        var spans: [(UInt64, UInt64)] = []
        for entry in table.entries {
            guard items[entry.itemId] == nil else { throw VirtualDiskError.corrupt("VHDX metadata item \(entry.itemId) appears twice") }
            if entry.length == 0 {
                guard entry.offset == 0 else { throw VirtualDiskError.corrupt("VHDX metadata item \(entry.itemId) has length 0 but a nonzero offset") }
                items[entry.itemId] = (entry, [])
                continue
            }
            guard entry.length <= VHDXMetadataTable.maxItemLength, UInt64(entry.offset) >= UInt64(VHDXMetadataTable.tableSize),
                UInt64(entry.offset) + UInt64(entry.length) <= region.length
            else {
                throw VirtualDiskError.corrupt("VHDX metadata item \(entry.itemId) (offset \(entry.offset), length \(entry.length)) lies outside the metadata region")
            }
            let span = (UInt64(entry.offset), UInt64(entry.offset) + UInt64(entry.length))
            for other in spans where span.0 < other.1 && other.0 < span.1 {
                throw VirtualDiskError.corrupt("VHDX metadata items overlap at offset \(entry.offset)")
            }
            spans.append(span)
            let known: Set<GUID> = [
                VHDXGUIDs.fileParameters, VHDXGUIDs.virtualDiskSize, VHDXGUIDs.page83Data, VHDXGUIDs.logicalSectorSize,
                VHDXGUIDs.physicalSectorSize, VHDXGUIDs.parentLocator,
            ]
            if entry.isRequired && !known.contains(entry.itemId) {
                throw VirtualDiskError(.unsupported, "VHDX file requires unknown metadata item \(entry.itemId)")
            }
            guard known.contains(entry.itemId) else { continue }
            let bytes = try file.readExactly(at: region.offset + UInt64(entry.offset), count: Int(entry.length), what: "metadata item")
            items[entry.itemId] = (entry, bytes)
        }
        func item(_ guid: GUID, _ name: String) throws -> [UInt8] {
            guard let bytes = items[guid]?.1 else { throw VirtualDiskError.corrupt("VHDX metadata lacks the required \(name) item") }
            return bytes
        }
        let parameters = try VHDXFileParameters(parsing: try item(VHDXGUIDs.fileParameters, "file parameters"))
        let virtualSize = try VHDXScalarItems.virtualDiskSize(try item(VHDXGUIDs.virtualDiskSize, "virtual disk size"))
        let logical = try VHDXScalarItems.sectorSize(try item(VHDXGUIDs.logicalSectorSize, "logical sector size"), what: "logical sector size")
        let physical = try VHDXScalarItems.sectorSize(try item(VHDXGUIDs.physicalSectorSize, "physical sector size"), what: "physical sector size")
        let page83 = (try? VHDXScalarItems.page83(try item(VHDXGUIDs.page83Data, "page 83 data"))) ?? GUID.zero
        guard virtualSize > 0, virtualSize <= VHDXLayout.maxVirtualSize, virtualSize % UInt64(logical) == 0 else {
            throw VirtualDiskError.corrupt("VHDX virtual disk size \(virtualSize) is invalid (1 sector to 64 TiB, a multiple of \(logical))")
        }
        var locator: VHDXParentLocator?
        if parameters.hasParent {
            let parsed = try VHDXParentLocator(parsing: try item(VHDXGUIDs.parentLocator, "parent locator"))
            guard parsed.locatorType == VHDXGUIDs.vhdxParentLocatorType else {
                throw VirtualDiskError(.unsupported, "VHDX parent locator type \(parsed.locatorType) is not supported")
            }
            locator = parsed
        }
        guard let sizeEntry = items[VHDXGUIDs.virtualDiskSize]?.0 else { throw VirtualDiskError.corrupt("VHDX metadata lacks the virtual disk size") }
        return VHDXImage(
            creator: "", header: VHDXHeader(sequenceNumber: 0, fileWriteGuid: .zero, dataWriteGuid: .zero, logGuid: .zero, logLength: 0, logOffset: 0),
            headerIndex: 0, bat: Region(offset: 0, length: 0), metadata: region, log: Region(offset: 0, length: 0),
            metadataTable: table, parameters: parameters, virtualSize: virtualSize, logicalSectorSize: logical,
            physicalSectorSize: physical, page83: page83, parentLocator: locator,
            virtualSizeItemOffset: region.offset + UInt64(sizeEntry.offset))
    }
}

/// BAT geometry (MS-VHDX §2.5): how payload blocks and sector-bitmap blocks interleave.
///
/// One sector-bitmap entry follows every `chunkRatio` payload entries:
/// ```
/// BAT: | PB0 | PB1 | ... | PB(cr-1) | SB0 | PB(cr) | ... | SB1 | ...
/// ```
struct VHDXGeometry: Equatable {
    var blockSize: UInt32
    var logicalSectorSize: UInt32
    var virtualSize: UInt64
    var hasParent: Bool

    /// Payload blocks per sector-bitmap block: 2^23 × logical sector size / block size.
    var chunkRatio: UInt64 { (UInt64(1) << 23) * UInt64(logicalSectorSize) / UInt64(blockSize) }
    var payloadBlocks: UInt64 { (virtualSize + UInt64(blockSize) - 1) / UInt64(blockSize) }
    var sectorBitmapBlocks: UInt64 { (payloadBlocks + chunkRatio - 1) / chunkRatio }
    var sectorsPerBlock: UInt64 { UInt64(blockSize) / UInt64(logicalSectorSize) }

    /// Number of BAT entries (§2.5): interleaved bitmap entries are only counted in full for
    /// differencing disks.
    var totalBATEntries: UInt64 {
        if hasParent { return sectorBitmapBlocks * (chunkRatio + 1) }
        guard payloadBlocks > 0 else { return 0 }
        return payloadBlocks + (payloadBlocks - 1) / chunkRatio
    }

    func payloadEntryIndex(block: UInt64) -> Int { Int(block + block / chunkRatio) }
    func bitmapEntryIndex(chunk: UInt64) -> Int { Int(chunk * (chunkRatio + 1) + chunkRatio) }
}
