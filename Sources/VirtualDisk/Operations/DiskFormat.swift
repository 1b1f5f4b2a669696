/// Image file formats this library reads and writes.
public enum DiskFormat: String, Sendable, Codable, CaseIterable {
    case raw
    case vhdx

    /// Detects the format from the file's first bytes: `vhdxfile` means VHDX. A file named
    /// `*.vhdx` without that signature is reported as a corrupt VHDX, never opened as raw.
    public static func detect(path: String) throws -> DiskFormat {
        let file = try PosixFile(path: path, readOnly: true)
        let head = try file.read(at: 0, count: 8)
        if head.count == 8, (try? ByteReader(head, what: "signature").u64(0)) == VHDXFileIdentifier.signature { return .vhdx }
        if path.lowercased().hasSuffix(".vhdx") {
            throw VirtualDiskError.corrupt("\(path) is named .vhdx but lacks the 'vhdxfile' signature: not a VHDX or damaged")
        }
        return .raw
    }
}

/// Entry points that work on any supported format.
public enum VirtualDisks {
    /// Opens an image, detecting its format.
    public static func open(path: String, readOnly: Bool) throws -> any VirtualDisk {
        switch try DiskFormat.detect(path: path) {
        case .raw: return try RawDisk(path: path, readOnly: readOnly)
        case .vhdx: return try VHDXDisk.open(path: path, readOnly: readOnly)
        }
    }

    /// Parses sizes such as `512`, `64K`, `10G`, `1.5T`, `20GiB` (binary units).
    public static func parseSize(_ text: String) throws -> UInt64 {
        let trimmed = text.trimmingWhitespace.uppercased()
        let units: [(String, UInt64)] = [
            ("TIB", 1 << 40), ("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
            ("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10),
            ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1),
        ]
        var number = Substring(trimmed)
        var multiplier: UInt64 = 1
        for (suffix, value) in units where trimmed.hasSuffix(suffix) {
            number = trimmed.dropLast(suffix.count)
            multiplier = value
            break
        }
        let bad = VirtualDiskError(.invalidArgument, "cannot read size '\(text)': use a number with an optional unit, like 512, 64K, 10G or 2T")
        if let whole = UInt64(number) {
            let (result, overflow) = whole.multipliedReportingOverflow(by: multiplier)
            guard !overflow else { throw bad }
            return result
        }
        guard let value = Double(number), value >= 0, value * Double(multiplier) < 1.8e19 else { throw bad }
        return UInt64(value * Double(multiplier))
    }
}

extension String {
    var trimmingWhitespace: String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
