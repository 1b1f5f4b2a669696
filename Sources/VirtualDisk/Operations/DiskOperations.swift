#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#endif

/// Progress callback: (bytes done, bytes total).
public typealias DiskProgress = (UInt64, UInt64) -> Void

/// Whole-image operations behind `hv-worker disk convert/resize/merge/check`.
public enum DiskOperations {
    /// Copy granularity for convert and merge.
    static let chunk: UInt64 = 1 << 20

    /// Copies `source` into a new image at `destination`. All-zero chunks are skipped so the
    /// result stays sparse (dynamic VHDX, sparse raw). The destination must not exist; on
    /// failure it is removed, and the source is never modified.
    public static func convert(
        source: String, destination: String, format: DiskFormat, vhdxType: VHDXType = .dynamic, blockSize: UInt32? = nil,
        progress: DiskProgress? = nil
    ) throws {
        if case .differencing = vhdxType {
            throw VirtualDiskError(.invalidArgument, "convert cannot produce a differencing disk; create one with 'disk create --type differencing'")
        }
        let input = try VirtualDisks.open(path: source, readOnly: true)
        defer { try? input.close() }
        let output: any VirtualDisk
        switch format {
        case .raw: output = try RawDisk.create(path: destination, size: input.virtualSize)
        case .vhdx:
            let size = (input.virtualSize + 511) / 512 * 512
            output = try VHDXDisk.create(path: destination, options: VHDXCreateOptions(virtualSize: size, type: vhdxType, blockSize: blockSize))
        }
        do {
            try copy(from: input, to: output, ranges: [(0, input.virtualSize)], progress: progress)
            try output.close()
        } catch {
            try? output.close()
            _ = unlink(destination)
            throw error
        }
    }

    static func copy(from input: any VirtualDisk, to output: any VirtualDisk, ranges: [(offset: UInt64, length: UInt64)], progress: DiskProgress?) throws {
        let total = ranges.reduce(0) { $0 + $1.length }
        var done: UInt64 = 0
        progress?(0, total)
        for range in ranges {
            var position = range.offset
            let end = range.offset + range.length
            while position < end {
                let count = Int(min(chunk - position % chunk, end - position))
                let bytes = try input.read(at: position, count: count)
                if !bytes.isAllZero { try output.write(at: position, bytes) }
                position += UInt64(count)
                done += UInt64(count)
                progress?(done, total)
            }
        }
    }

    /// Grows an image to `newSize` bytes. Shrinking is refused (it would lose data).
    public static func resize(path: String, to newSize: UInt64) throws {
        switch try DiskFormat.detect(path: path) {
        case .raw:
            let file = try PosixFile(path: path, readOnly: false)
            let current = try file.size()
            guard newSize >= current else {
                throw VirtualDiskError(.invalidArgument, "refusing to shrink \(path) from \(current) to \(newSize) bytes: data past the new end would be lost")
            }
            try file.setSize(newSize)
            try file.sync()
        case .vhdx:
            let disk = try VHDXDisk.open(path: path, readOnly: false)
            defer { try? disk.close() }
            try disk.resize(to: newSize)
            try disk.close()
        }
    }

    /// Writes a differencing disk's own data into its parent. Afterwards the parent holds the
    /// merged contents and the child is stale (its parent linkage no longer matches): delete it.
    /// - Returns: the parent's path.
    @discardableResult
    public static func merge(child path: String, progress: DiskProgress? = nil) throws -> String {
        let chained = try VHDXDisk.open(path: path, readOnly: true)
        guard chained.hasParent, let parentPath = chained.parentPath else {
            try? chained.close()
            throw VirtualDiskError(.invalidArgument, "\(path) is not a differencing disk; nothing to merge")
        }
        try chained.close()
        let child = try VHDXDisk(file: try PosixFile(path: path, readOnly: true), readOnly: true, path: path, requireParent: false)
        defer { try? child.close() }
        let parent = try VirtualDisks.open(path: parentPath, readOnly: false)
        do {
            let ranges = try child.allocatedRanges()
            let total = ranges.reduce(0) { $0 + $1.length }
            var done: UInt64 = 0
            progress?(0, total)
            for range in ranges {
                var position = range.offset
                while position < range.offset + range.length {
                    let count = Int(min(chunk - position % chunk, range.offset + range.length - position))
                    try parent.write(at: position, try child.read(at: position, count: count))
                    position += UInt64(count)
                    done += UInt64(count)
                    progress?(done, total)
                }
            }
            try parent.close()
        } catch {
            try? parent.close()
            throw error
        }
        return parentPath
    }

    /// Result of ``check(path:)``.
    public struct CheckReport: Sendable, Codable {
        public var path: String
        public var format: DiskFormat
        public var ok: Bool
        public var problems: [String]
        /// True when opening replayed a pending metadata log (only with `repair`).
        public var logReplayed: Bool
        /// True when the file has a pending metadata log that `repair` would replay into it
        /// (reads already see the replayed state).
        public var logPending: Bool = false
    }

    /// Validates an image: every structure, checksum, BAT entry and (for differencing disks)
    /// the parent chain. With `repair`, a pending log is replayed into the file.
    public static func check(path: String, repair: Bool = false) throws -> CheckReport {
        let format = try DiskFormat.detect(path: path)
        guard format == .vhdx else {
            let disk = try RawDisk(path: path, readOnly: true)
            let ok = disk.virtualSize % 512 == 0
            return CheckReport(path: path, format: .raw, ok: ok, problems: ok ? [] : ["size \(disk.virtualSize) is not a multiple of 512"], logReplayed: false)
        }
        var replayed = false
        do {
            if repair {
                let file = try PosixFile(path: path, readOnly: false)
                let image = try VHDXImage.load(file: file)
                replayed = !image.header.logGuid.isZero
                let disk = try VHDXDisk(file: file, readOnly: false, path: path, requireParent: false)
                try disk.close()
            }
            let image = try VHDXImage.load(file: try PosixFile(path: path, readOnly: true))
            let pending = !repair && !image.header.logGuid.isZero
            let disk = try VHDXDisk.open(path: path, readOnly: true)
            _ = try disk.allocatedRanges()
            try disk.close()
            return CheckReport(path: path, format: .vhdx, ok: true, problems: [], logReplayed: replayed, logPending: pending)
        } catch let error as VirtualDiskError {
            return CheckReport(path: path, format: .vhdx, ok: false, problems: [error.description], logReplayed: replayed)
        }
    }
}
