/// A raw disk image: the file's bytes are the disk's bytes. Sparse-aware: holes read as
/// zeros, and discard punches holes (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE), falling back to
/// writing zeros where the file system cannot.
///
/// ## Concurrency model
/// Stateless apart from the immutable file and size: every call goes straight to
/// pread/pwrite, which are safe to run concurrently.
public final class RawDisk: VirtualDisk {
    let file: any DiskFile
    public let path: String?
    public let virtualSize: UInt64
    public let logicalSectorSize: UInt32
    public let physicalSectorSize: UInt32 = 4096
    public let blockSize: UInt32 = 4096
    public let isReadOnly: Bool

    /// Opens a raw image over an already-open file.
    public init(file: any DiskFile, path: String? = nil, logicalSectorSize: UInt32 = 512) throws {
        self.file = file
        self.path = path
        self.virtualSize = try file.size()
        self.logicalSectorSize = logicalSectorSize
        self.isReadOnly = file.isReadOnly
    }

    /// Opens a raw image file.
    public convenience init(path: String, readOnly: Bool) throws {
        try self.init(file: try PosixFile(path: path, readOnly: readOnly), path: path)
    }

    /// Creates a sparse raw image of `size` bytes; refuses to overwrite an existing file.
    public static func create(path: String, size: UInt64) throws -> RawDisk {
        guard size > 0, size <= VHDXLayout.maxVirtualSize * 16 else {
            throw VirtualDiskError(.invalidArgument, "raw disk size \(size) is invalid")
        }
        let file = try PosixFile.create(path: path)
        try file.setSize(size)
        return try RawDisk(file: file, path: path)
    }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count >= 0 else { throw VirtualDiskError(.invalidArgument, "negative read length") }
        try checkRange(offset, UInt64(count))
        return try file.readZeroFilled(at: offset, count: count)
    }

    public func write(at offset: UInt64, _ bytes: [UInt8]) throws {
        guard !isReadOnly else { throw VirtualDiskError(.readOnly, "disk \(path ?? "") is open read-only") }
        try checkRange(offset, UInt64(bytes.count))
        try file.write(at: offset, bytes)
    }

    public func flush() throws {
        guard !isReadOnly else { return }
        try file.sync()
    }

    public func discard(at offset: UInt64, length: UInt64) throws {
        guard !isReadOnly else { throw VirtualDiskError(.readOnly, "disk \(path ?? "") is open read-only") }
        try checkRange(offset, length)
        guard length > 0 else { return }
        if try file.punchHole(at: offset, length: length) { return }
        let chunk = 1 << 20
        var done: UInt64 = 0
        while done < length {
            let count = Int(min(UInt64(chunk), length - done))
            try file.write(at: offset + done, [UInt8](repeating: 0, count: count))
            done += UInt64(count)
        }
    }

    public func close() throws { try flush() }

    /// Bytes the image occupies on the host file system.
    public func allocatedBytes() throws -> UInt64 { try file.allocatedBytes() }
}
