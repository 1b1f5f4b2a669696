import CKVM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A failed read or write of guest RAM to or from a file (saved state).
public struct GuestMemoryFileError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The call that failed (`pwrite`, `pread`, `lseek`) or what was wrong.
    public let operation: String
    /// The errno, 0 when the failure was not a system call's (a short file).
    public let errno: Int32

    public init(_ operation: String, errno: Int32 = 0) {
        self.operation = operation
        self.errno = errno
    }

    public var description: String {
        errno == 0 ? operation : "\(operation) failed: \(String(cString: strerror(errno)))"
    }
}

// Linux lseek whence values (glibc exposes them only with _GNU_SOURCE).
private let seekData: Int32 = 3
private let seekHole: Int32 = 4

extension GuestMemory {
    /// The page size used to find zero pages.
    public static let filePageSize = 4096

    /// Writes RAM, regions back to back in address order, to `fd` starting at `offset` (page
    /// aligned), leaving all-zero pages as holes (the caller sizes the file with `ftruncate`).
    /// Consecutive non-zero pages go out in one `pwrite`.
    /// - Returns: the bytes actually written (non-zero pages).
    public func writeSparse(toFileDescriptor fd: Int32, at offset: UInt64) throws(GuestMemoryFileError) -> UInt64 {
        let page = Self.filePageSize
        let zero = UnsafeMutableRawPointer.allocate(byteCount: page, alignment: page)
        defer { zero.deallocate() }
        zero.initializeMemory(as: UInt8.self, repeating: 0, count: page)
        var written: UInt64 = 0
        var fileOffset = offset
        for region in hostMappings {
            // SAFETY: the region's host mapping is `range.length` bytes, owned by self.
            guard let base = UnsafeMutableRawPointer(bitPattern: UInt(region.hostAddress)) else { continue }
            let length = Int(region.range.length)
            var runStart: Int?
            var i = 0
            func flush(_ end: Int) throws(GuestMemoryFileError) {
                guard let start = runStart else { return }
                try writeAll(fd, base + start, end - start, fileOffset + UInt64(start))
                written += UInt64(end - start)
                runStart = nil
            }
            while i < length {
                let n = Swift.min(page, length - i)
                if memcmp(base + i, zero, n) == 0 {
                    try flush(i)
                } else if runStart == nil {
                    runStart = i
                }
                i += n
            }
            try flush(length)
            fileOffset += UInt64(length)
        }
        return written
    }

    /// Reads RAM written by `writeSparse` from `fd` at `offset`. Only the file's data extents
    /// are read (`SEEK_DATA`/`SEEK_HOLE`); the holes' guest pages are zeroed (anonymous memory:
    /// `MADV_DONTNEED`, so untouched pages stay uncommitted). The file must hold `totalSize`
    /// bytes from `offset`.
    public func readSparse(fromFileDescriptor fd: Int32, at offset: UInt64) throws(GuestMemoryFileError) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw GuestMemoryFileError("fstat", errno: errno) }
        guard UInt64(st.st_size) >= offset + totalSize else {
            throw GuestMemoryFileError(
                "the saved state is truncated: RAM needs \(totalSize) bytes from offset \(offset), the file has \(st.st_size)")
        }
        var fileOffset = offset
        for region in hostMappings {
            // SAFETY: the region's host mapping is `range.length` bytes, owned by self.
            guard let base = UnsafeMutableRawPointer(bitPattern: UInt(region.hostAddress)) else { continue }
            let end = fileOffset + region.range.length
            var position = fileOffset
            while position < end {
                let data = lseek(fd, off_t(position), seekData)
                if data < 0 {
                    if errno == ENXIO {  // only a hole remains
                        zero(base + Int(position - fileOffset), Int(end - position))
                        position = end
                        break
                    }
                    // No SEEK_DATA on this file system: read everything.
                    try readAll(fd, base + Int(position - fileOffset), Int(end - position), position)
                    break
                }
                let dataStart = Swift.min(UInt64(data), end)
                zero(base + Int(position - fileOffset), Int(dataStart - position))
                if dataStart >= end { position = end; break }
                let hole = lseek(fd, off_t(dataStart), seekHole)
                let dataEnd = hole < 0 ? end : Swift.min(UInt64(hole), end)
                try readAll(fd, base + Int(dataStart - fileOffset), Int(dataEnd - dataStart), dataStart)
                position = dataEnd
            }
            fileOffset = end
        }
    }

    /// Zeroes `count` bytes of a region (page-aligned for anonymous memory, as holes are).
    private func zero(_ p: UnsafeMutableRawPointer, _ count: Int) {
        guard count > 0 else { return }
        if backing == .mmap, Int(bitPattern: p) % Self.filePageSize == 0, count % Self.filePageSize == 0,
            madvise(p, count, MADV_DONTNEED) == 0
        {
            return
        }
        memset(p, 0, count)
    }
}

private func writeAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ count: Int, _ offset: UInt64)
    throws(GuestMemoryFileError)
{
    var done = 0
    while done < count {
        let n = pwrite(fd, p + done, count - done, off_t(offset) + off_t(done))
        if n < 0 {
            if errno == EINTR { continue }
            throw GuestMemoryFileError("pwrite", errno: errno)
        }
        done += n
    }
}

private func readAll(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ count: Int, _ offset: UInt64)
    throws(GuestMemoryFileError)
{
    var done = 0
    while done < count {
        let n = pread(fd, p + done, count - done, off_t(offset) + off_t(done))
        if n < 0 {
            if errno == EINTR { continue }
            throw GuestMemoryFileError("pread", errno: errno)
        }
        if n == 0 { throw GuestMemoryFileError("the saved state ends inside guest RAM") }
        done += n
    }
}
