/// A block device backend: what a storage device (SCSI over VMBus, IDE) reads and writes.
///
/// Offsets and lengths are in bytes from the start of the virtual disk. Callers should keep
/// requests aligned to ``logicalSectorSize``; unaligned requests work but cost a
/// read-modify-write.
///
/// ## Concurrency model
/// Implementations are `Sendable` and may be called from several worker threads at once; each
/// serialises its own metadata updates internally (a `Mutex`). A write that returns is
/// visible to every later read; it is durable only after ``flush()`` returns.
public protocol VirtualDisk: AnyObject, Sendable {
    /// Size of the disk as the guest sees it, in bytes.
    var virtualSize: UInt64 { get }
    /// Logical sector size (512 or 4096).
    var logicalSectorSize: UInt32 { get }
    /// Physical sector size (512 or 4096), reported to the guest as a hint.
    var physicalSectorSize: UInt32 { get }
    /// Allocation granularity in bytes (the VHDX block size; the file system block for raw).
    var blockSize: UInt32 { get }
    /// True when the disk was opened read-only; writes, discards and resizes then fail.
    var isReadOnly: Bool { get }

    /// Reads `count` bytes at `offset`.
    /// - Throws: ``VirtualDiskError`` (`.outOfRange` past the end, `.io`, `.corrupt`).
    func read(at offset: UInt64, count: Int) throws -> [UInt8]
    /// Writes `bytes` at `offset`, allocating storage as needed.
    /// - Throws: ``VirtualDiskError`` (`.readOnly`, `.outOfRange`, `.io`).
    func write(at offset: UInt64, _ bytes: [UInt8]) throws
    /// Makes every completed write durable.
    func flush() throws
    /// Tells the backend that a range is no longer needed. Advisory: afterwards the range
    /// reads either as before or as zeros (whole raw pages and whole VHDX blocks read as zeros).
    func discard(at offset: UInt64, length: UInt64) throws
    /// Flushes and releases the backing files; later calls fail with `.closed`.
    func close() throws
}

extension VirtualDisk {
    /// Validates that `[offset, offset + length)` lies inside the disk.
    func checkRange(_ offset: UInt64, _ length: UInt64) throws {
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= virtualSize else {
            throw VirtualDiskError(
                .outOfRange, "range \(offset)+\(length) is outside the disk (virtual size \(virtualSize) bytes)")
        }
    }
}
