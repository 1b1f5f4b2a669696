/// The VHDX metadata log (MS-VHDX §2.3): write-ahead logging of 4 KiB metadata sectors.
///
/// ## Protocol used by this library
/// 1. The first modification of a session writes both headers with a fresh `LogGuid`.
/// 2. Each metadata update (BAT entries, sector bitmaps, the virtual size) becomes one log
///    entry holding the full new 4 KiB sectors. Order: payload data → fdatasync → log entry →
///    fdatasync → in-place sectors. The first fdatasync also makes the previous entry's
///    in-place sectors durable, so only the newest entry can ever be needed: every entry is
///    its own sequence (`Tail` = its own offset) and the log may wrap freely.
/// 3. A clean close syncs and writes both headers with `LogGuid` zero: nothing to replay.
///
/// On open, a non-zero `LogGuid` triggers replay: the valid entry (checksums, GUID, sequence
/// numbers) with the highest sequence number is the head; entries from its `Tail` up to it
/// must form a consecutive sequence and are applied in order.
struct VHDXLogWriter {
    let region: VHDXImage.Region
    let guid: GUID
    var sequence: UInt64
    /// Byte offset in the log where the next entry goes.
    var head: UInt64 = 0

    init(region: VHDXImage.Region, guid: GUID, sequence: UInt64) {
        self.region = region
        self.guid = guid
        self.sequence = sequence
    }

    /// Largest number of data sectors one entry may carry in this log.
    var maxSectorsPerEntry: Int {
        // Leave room for the descriptor sectors: n data sectors need ceil((64 + 32n)/4096).
        let sectors = Int(region.length) / VHDXLayout.logSectorSize
        return min(128, max(0, sectors - (sectors * 32 + 64 + 4095) / 4096))
    }

    /// Writes one entry and applies it in place. `fileEnd` is the allocation end of the file.
    mutating func commit(_ descriptors: [VHDXLogEntry.Descriptor], file: any DiskFile, fileEnd: UInt64) throws {
        guard !descriptors.isEmpty else { return }
        var entry = VHDXLogEntry(
            sequenceNumber: sequence, tail: 0, logGuid: guid, flushedFileOffset: fileEnd, lastFileOffset: fileEnd,
            descriptors: descriptors)
        let length = UInt64(entry.entryLength)
        guard length <= region.length else {
            throw VirtualDiskError(.unsupported, "metadata update of \(length) bytes does not fit the \(region.length)-byte VHDX log")
        }
        // Data first: payload written before this call must be durable before the log points
        // at it. This also makes the previous entry's in-place sectors durable.
        try file.sync()
        let position = head + length > region.length ? 0 : head
        entry.tail = UInt32(position)
        try file.write(at: region.offset + position, entry.encoded())
        try file.sync()
        for descriptor in descriptors { try Self.apply(descriptor, to: file) }
        head = position + length
        sequence += 1
    }

    static func apply(_ descriptor: VHDXLogEntry.Descriptor, to file: any DiskFile) throws {
        switch descriptor {
        case .data(let offset, let sector):
            try file.write(at: offset, sector)
        case .zero(let offset, let length):
            let zeros = [UInt8](repeating: 0, count: VHDXLayout.logSectorSize)
            var done: UInt64 = 0
            while done < length {
                try file.write(at: offset + done, zeros)
                done += UInt64(zeros.count)
            }
        }
    }

    /// Replay may extend the file by at most this much (LastFileOffset past the end).
    static let maxGrowth: UInt64 = 16 << 30
    /// Replay zero-fills at most this much (zero descriptors).
    static let maxZeroBytes: UInt64 = 16 << 20

    /// Finds the active log sequence (§2.3.3), or nil when there is nothing to replay.
    /// - Throws: `.corrupt` when the active sequence is broken or the file was truncated after it.
    static func findActiveSequence(file: any DiskFile, region: VHDXImage.Region, guid: GUID) throws -> [VHDXLogEntry] {
        let sector = UInt64(VHDXLayout.logSectorSize)
        let fileSize = try file.size()
        var entries: [UInt64: VHDXLogEntry] = [:]
        var position: UInt64 = 0
        while position < region.length {
            defer { position += sector }
            guard let first = try? file.readExactly(at: region.offset + position, count: Int(sector), what: "log sector"),
                let peek = VHDXLogEntry.peek(first), peek.guid == guid, UInt64(peek.length) <= region.length
            else { continue }
            guard let bytes = try? readCircular(file: file, region: region, at: position, count: peek.length),
                let entry = try? VHDXLogEntry(parsing: bytes), entry.logGuid == guid
            else { continue }
            entries[position] = entry
        }
        guard let (headPosition, head) = entries.max(by: { $0.value.sequenceNumber < $1.value.sequenceNumber }) else { return [] }
        // Walk from the head's tail to the head through consecutive sequence numbers.
        var chain: [VHDXLogEntry] = []
        var cursor = UInt64(head.tail)
        while chain.count <= entries.count {
            guard let entry = entries[cursor] else {
                throw VirtualDiskError.corrupt("VHDX log is damaged: the active sequence has no valid entry at log offset \(cursor)")
            }
            if let previous = chain.last, entry.sequenceNumber != previous.sequenceNumber + 1 {
                throw VirtualDiskError.corrupt("VHDX log is damaged: sequence numbers jump from \(previous.sequenceNumber) to \(entry.sequenceNumber)")
            }
            chain.append(entry)
            if cursor == headPosition { break }
            cursor = (cursor + UInt64(entry.entryLength)) % region.length
        }
        guard chain.last?.sequenceNumber == head.sequenceNumber else { throw VirtualDiskError.corrupt("VHDX log is damaged: its active sequence loops") }
        // Hostile-input bounds: replay may not touch the identifier or headers, nor grow the
        // file or zero-fill absurd amounts.
        var zeroBytes: UInt64 = 0
        for entry in chain {
            guard entry.lastFileOffset <= fileSize + maxGrowth else {
                throw VirtualDiskError.corrupt("VHDX log entry claims a file size of \(entry.lastFileOffset) bytes, far past the file's \(fileSize)")
            }
            for descriptor in entry.descriptors {
                let length: UInt64
                switch descriptor {
                case .data: length = sector
                case .zero(_, let zeroLength):
                    length = zeroLength
                    zeroBytes += zeroLength
                }
                let (end, overflow) = descriptor.fileOffset.addingReportingOverflow(length)
                guard descriptor.fileOffset >= VHDXLayout.regionTableOffsets[0], !overflow, end <= max(fileSize, entry.lastFileOffset) else {
                    throw VirtualDiskError.corrupt("VHDX log entry writes outside the file's data area (offset \(descriptor.fileOffset), \(length) bytes)")
                }
            }
        }
        guard zeroBytes <= maxZeroBytes else { throw VirtualDiskError(.unsupported, "VHDX log zero-fills \(zeroBytes) bytes, more than the 16 MiB this library replays") }
        guard head.flushedFileOffset <= fileSize else {
            throw VirtualDiskError.corrupt("VHDX file is shorter (\(fileSize) bytes) than its log says was flushed (\(head.flushedFileOffset)): data was lost")
        }
        return chain
    }

    private static func readCircular(file: any DiskFile, region: VHDXImage.Region, at position: UInt64, count: Int) throws -> [UInt8] {
        let first = min(UInt64(count), region.length - position)
        var bytes = try file.readExactly(at: region.offset + position, count: Int(first), what: "log entry")
        if Int(first) < count {
            bytes += try file.readExactly(at: region.offset, count: count - Int(first), what: "log entry")
        }
        return bytes
    }
}
