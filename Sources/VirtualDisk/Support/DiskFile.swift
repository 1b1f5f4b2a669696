/// A byte-addressed backing file: the one seam between disk formats and the operating system.
///
/// Formats never call the OS directly, so tests can substitute an in-memory file that injects
/// faults (fails or "crashes" at a chosen write or flush) — see the crash tests.
public protocol DiskFile: AnyObject, Sendable {
    /// Reads up to `count` bytes at `offset`; returns fewer only at end of file.
    func read(at offset: UInt64, count: Int) throws -> [UInt8]
    /// Writes all of `bytes` at `offset`, extending the file if needed.
    func write(at offset: UInt64, _ bytes: ArraySlice<UInt8>) throws
    /// Current size in bytes.
    func size() throws -> UInt64
    /// Sets the size; growing leaves a hole that reads as zeros.
    func setSize(_ size: UInt64) throws
    /// Makes all completed writes and size changes durable (fdatasync).
    func sync() throws
    /// Deallocates a range while keeping the size, so it reads as zeros. Returns false if the
    /// file system cannot punch holes (the caller then writes zeros).
    func punchHole(at offset: UInt64, length: UInt64) throws -> Bool
    /// Bytes of storage actually allocated (for sparse files, less than `size()`).
    func allocatedBytes() throws -> UInt64
    /// An identity for loop detection in parent chains (device and inode for real files).
    var identity: String { get }
    /// True when opened without write access.
    var isReadOnly: Bool { get }
}

extension DiskFile {
    /// Reads exactly `count` bytes or throws `.corrupt` naming `what` was cut short.
    func readExactly(at offset: UInt64, count: Int, what: String) throws -> [UInt8] {
        let bytes = try read(at: offset, count: count)
        guard bytes.count == count else {
            throw VirtualDiskError.corrupt(
                "file is truncated: \(what) at offset \(offset) needs \(count) bytes, only \(bytes.count) present")
        }
        return bytes
    }

    /// Reads `count` bytes, treating anything past end of file as zeros.
    func readZeroFilled(at offset: UInt64, count: Int) throws -> [UInt8] {
        var bytes = try read(at: offset, count: count)
        if bytes.count < count { bytes.append(contentsOf: repeatElement(0, count: count - bytes.count)) }
        return bytes
    }

    func write(at offset: UInt64, _ bytes: [UInt8]) throws { try write(at: offset, bytes[...]) }
}

extension DiskFile {
    /// Reserves storage for a range without changing its contents; false when unsupported.
    func preallocate(at offset: UInt64, length: UInt64) throws -> Bool {
        guard let posix = self as? PosixFile else { return false }
        return try posix.preallocateRange(at: offset, length: length)
    }
}
