/// Growing a VHDX (the virtual disk size item, §2.6.2.2, and new BAT entries, §2.5).
extension VHDXDisk {
    /// Grows the disk to `newSize` bytes. New space reads as zeros (or from the parent).
    /// BAT entries are logged first, the new size last, so a crash leaves the old size intact.
    /// - Throws: `.invalidArgument` to shrink or for a bad size; `.unsupported` when the BAT
    ///   region is too small (relocating the BAT is not implemented).
    public func resize(to newSize: UInt64) throws {
        try state.withLock { state in
            try checkWritable(state)
            guard !hasParent else {
                throw VirtualDiskError(.unsupported, "a differencing disk must stay the size of its parent: resize the base disk (with no children) instead")
            }
            let oldSize = state.image.virtualSize
            guard newSize >= oldSize else {
                throw VirtualDiskError(.invalidArgument, "refusing to shrink from \(oldSize) to \(newSize) bytes: data past the new end would be lost")
            }
            guard newSize % UInt64(logicalSectorSize) == 0, newSize <= VHDXLayout.maxVirtualSize else {
                throw VirtualDiskError(.invalidArgument, "new size \(newSize) must be a multiple of \(logicalSectorSize) bytes and at most 64 TiB")
            }
            guard newSize > oldSize else { return }
            var geometry = state.image.geometry
            geometry.virtualSize = newSize
            guard geometry.totalBATEntries * 8 <= state.image.bat.length else {
                let capacity = state.image.bat.length / 8 * geometry.chunkRatio / (geometry.chunkRatio + 1) * UInt64(blockSize)
                throw VirtualDiskError(.unsupported, "the BAT of this disk covers at most about \(capacity) bytes; growing further needs BAT relocation, which is not supported: convert to a new image of the desired size instead")
            }
            try guarded(&state) { state in
                try beginSession(&state)
                let oldGeometry = state.image.geometry
                var pending = PendingUpdate()
                let oldCount = state.bat.count
                state.bat += [UInt64](repeating: 0, count: Int(geometry.totalBATEntries) - oldCount)
                for index in oldCount..<state.bat.count { pending.batIndices.insert(index) }
                if isFixed {
                    for block in oldGeometry.payloadBlocks..<geometry.payloadBlocks {
                        let offset = try allocate(&state, size: UInt64(blockSize))
                        let index = geometry.payloadEntryIndex(block: block)
                        state.bat[index] = VHDXBATEntry(state: .fullyPresent, fileOffsetMB: offset >> 20).rawValue
                        pending.batIndices.insert(index)
                    }
                }
                try commit(&state, pending)
                let sectorSize = UInt64(VHDXLayout.logSectorSize)
                let itemOffset = state.image.virtualSizeItemOffset
                let sectorOffset = itemOffset / sectorSize * sectorSize
                var sector = try file.readZeroFilled(at: sectorOffset, count: Int(sectorSize))
                let within = Int(itemOffset - sectorOffset)
                guard within + 8 <= sector.count else { throw VirtualDiskError(.unsupported, "virtual size item straddles a sector; cannot resize") }
                for byte in 0..<8 { sector[within + byte] = UInt8(truncatingIfNeeded: newSize >> (8 * UInt64(byte))) }
                try logSectors(&state, [sectorOffset: sector])
                state.image.virtualSize = newSize
                try file.sync()
            }
        }
    }
}
