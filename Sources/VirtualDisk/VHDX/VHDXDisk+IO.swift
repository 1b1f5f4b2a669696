/// Block mapping: reads and writes through the BAT and sector bitmaps (MS-VHDX §2.5).
extension VHDXDisk {
    /// Reads `count` bytes (any alignment) at `offset`, block by block.
    func readLocked(_ state: inout State, offset: UInt64, count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        let geometry = state.image.geometry
        let blockSize = UInt64(geometry.blockSize)
        var position = offset
        let end = offset + UInt64(count)
        while position < end {
            let block = position / blockSize
            let inBlock = position % blockSize
            let length = min(end - position, blockSize - inBlock)
            let entry = VHDXBATEntry(rawValue: state.bat[geometry.payloadEntryIndex(block: block)])
            let piece: [UInt8]
            switch entry.state {
            case .fullyPresent:
                piece = try file.readZeroFilled(at: entry.fileOffset + inBlock, count: Int(length))
            case .partiallyPresent:
                piece = try readPartial(&state, block: block, blockOffset: entry.fileOffset, inBlock: inBlock, length: length)
            case .notPresent:
                piece = try readParent(at: position, count: Int(length))
            default:
                piece = [UInt8](repeating: 0, count: Int(length))
            }
            // The common case, a request inside one block, returns the piece without a copy.
            if position == offset, length == UInt64(count) { return piece }
            if out.isEmpty { out.reserveCapacity(count) }
            out += piece
            position += length
        }
        return out
    }

    func readParent(at offset: UInt64, count: Int) throws -> [UInt8] {
        if let parent { return try parent.read(at: offset, count: count) }
        return [UInt8](repeating: 0, count: count)
    }

    /// File offset of the sector bitmap bytes for `block`, or nil if its bitmap block is absent.
    func bitmapOffset(_ state: State, block: UInt64) -> UInt64? {
        let geometry = state.image.geometry
        let chunk = block / geometry.chunkRatio
        let index = geometry.bitmapEntryIndex(chunk: chunk)
        guard index < state.bat.count else { return nil }
        let entry = VHDXBATEntry(rawValue: state.bat[index])
        guard entry.state == .bitmapPresent else { return nil }
        return entry.fileOffset + (block % geometry.chunkRatio) * geometry.sectorsPerBlock / 8
    }

    /// Reads a partially present block: sectors whose bitmap bit is set come from this file,
    /// the others from the parent.
    func readPartial(_ state: inout State, block: UInt64, blockOffset: UInt64, inBlock: UInt64, length: UInt64) throws -> [UInt8] {
        let sector = UInt64(state.image.logicalSectorSize)
        let firstSector = inBlock / sector
        let lastSector = (inBlock + length - 1) / sector
        var bits: [UInt8] = []
        if let bitmap = bitmapOffset(state, block: block) {
            let firstByte = firstSector / 8
            bits = try file.readZeroFilled(at: bitmap + firstByte, count: Int(lastSector / 8 - firstByte + 1))
        }
        func present(_ s: UInt64) -> Bool {
            let bit = s - (firstSector / 8) * 8
            guard Int(bit / 8) < bits.count else { return false }
            return bits[Int(bit / 8)] & (1 << UInt8(bit % 8)) != 0
        }
        let blockStart = block * UInt64(state.image.parameters.blockSize)
        var out: [UInt8] = []
        out.reserveCapacity(Int(length))
        var position = inBlock
        let end = inBlock + length
        while position < end {
            let s = position / sector
            let isPresent = present(s)
            // Extend the run while sectors have the same presence.
            var runEnd = min(end, (s + 1) * sector)
            while runEnd < end, present(runEnd / sector) == isPresent { runEnd = min(end, (runEnd / sector + 1) * sector) }
            let count = Int(runEnd - position)
            if isPresent {
                out += try file.readZeroFilled(at: blockOffset + position, count: count)
            } else {
                out += try readParent(at: blockStart + position, count: count)
            }
            position = runEnd
        }
        return out
    }

    /// Appends `size` bytes (a multiple of 1 MiB) to the file and returns their offset.
    func allocate(_ state: inout State, size: UInt64) throws -> UInt64 {
        let offset = state.fileEnd
        state.fileEnd += size
        try file.setSize(state.fileEnd)
        return offset
    }

    /// Pending metadata changes of one operation, committed through the log.
    struct PendingUpdate {
        var batIndices: Set<Int> = []
        /// (block, first sector in block, sector count) whose bitmap bits must be set.
        var bitmapRuns: [(block: UInt64, first: UInt64, count: UInt64)] = []
        var isEmpty: Bool { batIndices.isEmpty && bitmapRuns.isEmpty }
    }

    /// Writes sector-aligned `bytes` at a sector-aligned `offset`.
    func writeLocked(_ state: inout State, offset: UInt64, _ bytes: [UInt8]) throws {
        try beginSession(&state)
        let geometry = state.image.geometry
        let blockSize = UInt64(geometry.blockSize)
        let sector = UInt64(state.image.logicalSectorSize)
        var pending = PendingUpdate()
        var position = offset
        let end = offset + UInt64(bytes.count)
        while position < end {
            let block = position / blockSize
            let inBlock = position % blockSize
            let length = min(end - position, blockSize - inBlock)
            let slice = bytes[Int(position - offset)..<Int(position - offset + length)]
            let index = geometry.payloadEntryIndex(block: block)
            let entry = VHDXBATEntry(rawValue: state.bat[index])
            switch entry.state {
            case .fullyPresent:
                try file.write(at: entry.fileOffset + inBlock, slice)
            case .partiallyPresent:
                try file.write(at: entry.fileOffset + inBlock, slice)
                pending.bitmapRuns.append((block, inBlock / sector, length / sector))
            default:
                let wholeBlock = inBlock == 0 && length == blockSize
                let inherits = hasParent && entry.state == .notPresent && !wholeBlock
                if inherits { try ensureBitmap(&state, block: block, pending: &pending) }
                let blockOffset = try allocate(&state, size: blockSize)
                try file.write(at: blockOffset + inBlock, slice)
                let newState: VHDXBATEntry.State = inherits ? .partiallyPresent : .fullyPresent
                state.bat[index] = VHDXBATEntry(state: newState, fileOffsetMB: blockOffset >> 20).rawValue
                pending.batIndices.insert(index)
                if inherits { pending.bitmapRuns.append((block, inBlock / sector, length / sector)) }
            }
            position += length
            if pending.batIndices.count + pending.bitmapRuns.count >= 64 {
                try commit(&state, pending)
                pending = PendingUpdate()
            }
        }
        try commit(&state, pending)
    }

    /// Allocates the sector bitmap block covering `block` if it is absent.
    func ensureBitmap(_ state: inout State, block: UInt64, pending: inout PendingUpdate) throws {
        guard bitmapOffset(state, block: block) == nil else { return }
        let geometry = state.image.geometry
        let index = geometry.bitmapEntryIndex(chunk: block / geometry.chunkRatio)
        let offset = try allocate(&state, size: VHDXLayout.sectorBitmapBlockSize)
        state.bat[index] = VHDXBATEntry(state: .bitmapPresent, fileOffsetMB: offset >> 20).rawValue
        pending.batIndices.insert(index)
    }

    /// Turns pending BAT and bitmap changes into full 4 KiB sector images and logs them.
    func commit(_ state: inout State, _ pending: PendingUpdate) throws {
        guard !pending.isEmpty else { return }
        let sectorSize = UInt64(VHDXLayout.logSectorSize)
        var sectors: [UInt64: [UInt8]] = [:]
        // Bitmap bits.
        for run in pending.bitmapRuns {
            guard let base = bitmapOffset(state, block: run.block) else {
                throw VirtualDiskError.corrupt("sector bitmap for block \(run.block) is missing")
            }
            for s in run.first..<(run.first + run.count) {
                let byteOffset = base + s / 8
                let sectorOffset = byteOffset / sectorSize * sectorSize
                if sectors[sectorOffset] == nil {
                    sectors[sectorOffset] = try file.readZeroFilled(at: sectorOffset, count: Int(sectorSize))
                }
                sectors[sectorOffset]?[Int(byteOffset - sectorOffset)] |= 1 << UInt8(s % 8)
            }
        }
        // Drop bitmap sectors that did not change (a rewrite of already-present sectors).
        for (offset, image) in sectors where (try? file.readZeroFilled(at: offset, count: Int(sectorSize))) == image {
            sectors[offset] = nil
        }
        // BAT sectors from the in-memory BAT, keeping bytes past the last entry as on disk.
        let batBase = state.image.bat.offset
        for index in pending.batIndices {
            let sectorOffset = batBase + UInt64(index * 8) / sectorSize * sectorSize
            guard sectors[sectorOffset] == nil else { continue }
            var image = try file.readZeroFilled(at: sectorOffset, count: Int(sectorSize))
            let firstEntry = Int((sectorOffset - batBase) / 8)
            for slot in 0..<(Int(sectorSize) / 8) where firstEntry + slot < state.bat.count {
                let value = state.bat[firstEntry + slot]
                for byte in 0..<8 { image[slot * 8 + byte] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(byte))) }
            }
            sectors[sectorOffset] = image
        }
        try logSectors(&state, sectors)
    }

    /// Logs and applies sector images, in as many entries as the log needs.
    func logSectors(_ state: inout State, _ sectors: [UInt64: [UInt8]]) throws {
        guard !sectors.isEmpty else { return }
        guard var log = state.log else { throw VirtualDiskError(.io, "internal: metadata update outside a write session") }
        let ordered = sectors.keys.sorted()
        let perEntry = max(1, log.maxSectorsPerEntry)
        var start = 0
        while start < ordered.count {
            let batch = ordered[start..<min(ordered.count, start + perEntry)]
            let descriptors = batch.compactMap { offset in sectors[offset].map { VHDXLogEntry.Descriptor.data(fileOffset: offset, sector: $0) } }
            try log.commit(descriptors, file: file, fileEnd: state.fileEnd)
            state.log = log
            start += perEntry
        }
    }

    /// Discards whole blocks of a dynamic disk: they become ZERO blocks and their storage is
    /// released. Partial blocks, fixed and differencing disks are left as they are (advisory).
    func discardLocked(_ state: inout State, offset: UInt64, length: UInt64) throws {
        guard !isFixed, !hasParent else { return }
        let geometry = state.image.geometry
        let blockSize = UInt64(geometry.blockSize)
        let firstBlock = (offset + blockSize - 1) / blockSize
        let endBlock = min((offset + length) / blockSize, geometry.payloadBlocks)
        guard firstBlock < endBlock else { return }
        try beginSession(&state)
        var pending = PendingUpdate()
        var released: [UInt64] = []
        for block in firstBlock..<endBlock {
            let index = geometry.payloadEntryIndex(block: block)
            let entry = VHDXBATEntry(rawValue: state.bat[index])
            guard entry.state != .zero else { continue }
            if entry.state == .fullyPresent { released.append(entry.fileOffset) }
            state.bat[index] = VHDXBATEntry(state: .zero, fileOffsetMB: 0).rawValue
            pending.batIndices.insert(index)
        }
        try commit(&state, pending)
        // Only now, with the BAT durable in the log, is the old storage unreferenced.
        for blockOffset in released { _ = try file.punchHole(at: blockOffset, length: blockSize) }
    }
}
