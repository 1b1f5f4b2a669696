import Synchronization

/// A VHDX virtual disk (MS-VHDX): fixed, dynamic or differencing.
///
/// ```
/// 0      1M       2M        3M            4M
/// | hdrs | log    | BAT ... | metadata ...| payload blocks (and sector bitmaps) ...
/// ```
/// Opening validates every structure (see ``VHDXImage``) and replays a pending metadata log;
/// writes allocate blocks at the end of the file and log each BAT/bitmap update first
/// (see ``VHDXLogWriter``), so a crash at any point leaves a consistent file.
///
/// ## Concurrency model
/// All mutable state (BAT, headers, log position, allocation end) lives in one `Mutex`;
/// every operation holds it for its duration, so operations are linearisable. The backing
/// file itself is only touched under that lock. The parent (for differencing disks) is a
/// separate read-only disk with its own lock.
public final class VHDXDisk: VirtualDisk {
    struct State {
        var image: VHDXImage
        var bat: [UInt64]
        var fileEnd: UInt64
        /// Non-nil once this session has modified the file (headers carry its LogGuid).
        var log: VHDXLogWriter?
        var closed = false
        /// Set when a metadata update failed half-way: the in-memory state may differ from
        /// the file, so further writes are refused until the disk is reopened.
        var failure: VirtualDiskError?
    }

    let file: any DiskFile
    /// The parent disk of a differencing disk (nil otherwise).
    public let parent: (any VirtualDisk)?
    /// Path of the file, when opened from one.
    public let path: String?
    public let isReadOnly: Bool
    public let logicalSectorSize: UInt32
    public let physicalSectorSize: UInt32
    public let blockSize: UInt32
    let state: Mutex<State>

    public var virtualSize: UInt64 { state.withLock { $0.image.virtualSize } }
    /// Fixed disks keep every block allocated (LeaveBlockAllocated).
    public let isFixed: Bool
    /// Differencing disks read unallocated sectors from their parent.
    public let hasParent: Bool
    /// The current header's DataWriteGuid, which children record as `parent_linkage`.
    public var dataWriteGuid: GUID { state.withLock { $0.image.header.dataWriteGuid } }
    /// The parent locator entries (key/value), for differencing disks.
    public var parentLocatorEntries: [(key: String, value: String)] { state.withLock { $0.image.parentLocator?.entries ?? [] } }
    /// The creator string from the file identifier.
    public var creator: String { state.withLock { $0.image.creator } }

    /// Opens a VHDX over an already-open file.
    /// - Parameters:
    ///   - file: the backing file; its read-only flag must match `readOnly`.
    ///   - parent: the parent disk for a differencing file. Nil is accepted only with
    ///     `requireParent: false`; unallocated sectors then read as zeros.
    /// - Throws: ``VirtualDiskError`` naming the first problem found.
    public init(file: any DiskFile, readOnly: Bool, parent: (any VirtualDisk)? = nil, path: String? = nil, requireParent: Bool = true) throws {
        var file = file
        var image = try VHDXImage.load(file: file)
        if !image.header.logGuid.isZero, image.log.length > 0 {
            let chain = try VHDXLogWriter.findActiveSequence(file: file, region: image.log, guid: image.header.logGuid)
            if readOnly {
                var sectors: [UInt64: [UInt8]] = [:]
                for entry in chain {
                    for descriptor in entry.descriptors {
                        switch descriptor {
                        case .data(let offset, let sector): sectors[offset] = sector
                        case .zero(let offset, let length):
                            var done: UInt64 = 0
                            while done < length {
                                sectors[offset + done] = [UInt8](repeating: 0, count: VHDXLayout.logSectorSize)
                                done += UInt64(VHDXLayout.logSectorSize)
                            }
                        }
                    }
                }
                if !chain.isEmpty {
                    file = try OverlayFile(base: file, sectors: sectors, minimumSize: chain.map(\.lastFileOffset).max() ?? 0)
                }
            } else {
                for entry in chain {
                    for descriptor in entry.descriptors { try VHDXLogWriter.apply(descriptor, to: file) }
                    if try file.size() < entry.lastFileOffset { try file.setSize(entry.lastFileOffset) }
                }
                try file.sync()
                var header = image.header
                header.logGuid = .zero
                _ = try Self.writeHeaders(header, current: image.header, index: image.headerIndex, file: file)
            }
            image = try VHDXImage.load(file: file)
        }
        if image.parameters.hasParent {
            guard parent != nil || !requireParent else {
                throw VirtualDiskError(.parent, "differencing disk opened without its parent")
            }
            if let parent, parent.virtualSize != image.virtualSize || parent.logicalSectorSize != image.logicalSectorSize {
                throw VirtualDiskError(.parent, "parent disk geometry (\(parent.virtualSize) bytes, \(parent.logicalSectorSize)-byte sectors) does not match the differencing disk (\(image.virtualSize), \(image.logicalSectorSize))")
            }
        }
        let fileSize = try file.size()
        let bat = try Self.loadBAT(file: file, image: image, fileSize: fileSize)
        var fileEnd = (fileSize + VHDXLayout.mib - 1) / VHDXLayout.mib * VHDXLayout.mib
        fileEnd = max(fileEnd, image.bat.end, image.metadata.end, image.log.end)
        self.file = file
        self.parent = image.parameters.hasParent ? parent : nil
        self.path = path
        self.isReadOnly = readOnly || file.isReadOnly
        self.logicalSectorSize = image.logicalSectorSize
        self.physicalSectorSize = image.physicalSectorSize
        self.blockSize = image.parameters.blockSize
        self.isFixed = image.parameters.leaveBlocksAllocated
        self.hasParent = image.parameters.hasParent
        self.state = Mutex(State(image: image, bat: bat, fileEnd: fileEnd))
    }

    deinit {
        // Best effort: a disk dropped without close() still gets a clean header.
        try? close()
    }

    /// Reads the BAT and checks every entry: known state, block inside the file, no overlap
    /// with the fixed regions or with another block.
    static func loadBAT(file: any DiskFile, image: VHDXImage, fileSize: UInt64) throws -> [UInt64] {
        let geometry = image.geometry
        let count = Int(geometry.totalBATEntries)
        let bytes = try file.readExactly(at: image.bat.offset, count: count * 8, what: "BAT")
        let reader = ByteReader(bytes, what: "BAT")
        var bat = [UInt64](repeating: 0, count: count)
        var used: [(start: UInt64, end: UInt64, index: Int)] = []
        let reserved: [(String, VHDXImage.Region)] = [
            ("header section", VHDXImage.Region(offset: 0, length: VHDXLayout.headerSectionSize)), ("log", image.log),
            ("BAT", image.bat), ("metadata region", image.metadata),
        ]
        for index in 0..<count {
            let raw = try reader.u64(index * 8)
            bat[index] = raw
            let entry = VHDXBATEntry(rawValue: raw)
            let isBitmap = (UInt64(index) + 1) % (geometry.chunkRatio + 1) == 0
            let length: UInt64
            if isBitmap {
                guard entry.state == .notPresent || entry.state == .bitmapPresent else {
                    throw VirtualDiskError.corrupt("BAT entry \(index) (sector bitmap) has invalid state \(entry.state)")
                }
                guard entry.state == .bitmapPresent else { continue }
                guard image.parameters.hasParent else { continue }
                length = VHDXLayout.sectorBitmapBlockSize
            } else {
                switch entry.state {
                case .notPresent, .undefined, .zero, .unmapped, .unmappedV095: continue
                case .fullyPresent: break
                case .partiallyPresent:
                    guard image.parameters.hasParent else {
                        throw VirtualDiskError.corrupt("BAT entry \(index) is partially present in a disk without a parent")
                    }
                default: throw VirtualDiskError.corrupt("BAT entry \(index) has invalid state \(entry.state)")
                }
                length = UInt64(image.parameters.blockSize)
            }
            let start = entry.fileOffset
            guard start >= VHDXLayout.headerSectionSize, start + length <= fileSize else {
                throw VirtualDiskError.corrupt("BAT entry \(index) points at offset \(start), outside the file (\(fileSize) bytes)")
            }
            for (name, region) in reserved where start < region.end && region.offset < start + length {
                throw VirtualDiskError.corrupt("BAT entry \(index) (offset \(start)) overlaps the \(name)")
            }
            used.append((start, start + length, index))
        }
        used.sort { $0.start < $1.start }
        for pair in zip(used, used.dropFirst()) where pair.1.start < pair.0.end {
            throw VirtualDiskError.corrupt("BAT entries \(pair.0.index) and \(pair.1.index) point at overlapping blocks")
        }
        return bat
    }

    // MARK: VirtualDisk

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0 else { throw VirtualDiskError(.invalidArgument, "negative read length") }
        return try state.withLock { state in
            try checkOpen(state)
            try checkRange(offset, UInt64(count), size: state.image.virtualSize)
            return try readLocked(&state, offset: offset, count: count)
        }
    }

    public func write(at offset: UInt64, _ bytes: [UInt8]) throws {
        try state.withLock { state in
            try checkWritable(state)
            try checkRange(offset, UInt64(bytes.count), size: state.image.virtualSize)
            guard !bytes.isEmpty else { return }
            let sector = UInt64(logicalSectorSize)
            let start = offset / sector * sector
            let end = (offset + UInt64(bytes.count) + sector - 1) / sector * sector
            if start == offset, end == offset + UInt64(bytes.count) {
                try guarded(&state) { try writeLocked(&$0, offset: offset, bytes) }
                return
            }
            // Unaligned: read-modify-write the covering sectors.
            var buffer = try readLocked(&state, offset: start, count: Int(end - start))
            buffer.replaceSubrange(Int(offset - start)..<Int(offset - start) + bytes.count, with: bytes)
            try guarded(&state) { try writeLocked(&$0, offset: start, buffer) }
        }
    }

    public func flush() throws {
        try state.withLock { state in
            try checkOpen(state)
            guard !isReadOnly else { return }
            try file.sync()
        }
    }

    public func discard(at offset: UInt64, length: UInt64) throws {
        try state.withLock { state in
            try checkWritable(state)
            try checkRange(offset, length, size: state.image.virtualSize)
            try guarded(&state) { try discardLocked(&$0, offset: offset, length: length) }
        }
    }

    public func close() throws {
        try state.withLock { state in
            guard !state.closed else { return }
            state.closed = true
            guard state.log != nil, state.failure == nil else { return }
            try file.sync()
            var header = state.image.header
            header.logGuid = .zero
            (state.image.headerIndex, state.image.header) = try Self.writeHeaders(
                header, current: state.image.header, index: state.image.headerIndex, file: file)
            state.log = nil
        }
        try parent?.close()
    }

    // MARK: Checks

    func checkOpen(_ state: State) throws {
        guard !state.closed else { throw VirtualDiskError(.closed, "disk \(path ?? "") is closed") }
    }

    func checkWritable(_ state: State) throws {
        try checkOpen(state)
        guard !isReadOnly else { throw VirtualDiskError(.readOnly, "disk \(path ?? "") is open read-only") }
        if let failure = state.failure {
            throw VirtualDiskError(.io, "an earlier metadata update failed; reopen the disk to recover from its log", cause: failure)
        }
    }

    func checkRange(_ offset: UInt64, _ length: UInt64, size: UInt64) throws {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= size else {
            throw VirtualDiskError(.outOfRange, "range \(offset)+\(length) is outside the disk (virtual size \(size) bytes)")
        }
    }

    /// Runs a mutation; if it fails, poisons the disk (the file stays consistent thanks to the
    /// log, but the in-memory BAT may not match it any more).
    func guarded(_ state: inout State, _ body: (inout State) throws -> Void) throws {
        do {
            try body(&state)
        } catch let error as VirtualDiskError {
            if error.code == .io || error.code == .unsupported { state.failure = error }
            throw error
        } catch {
            let wrapped = VirtualDiskError(.io, "write failed: \(error)")
            state.failure = wrapped
            throw wrapped
        }
    }
}
