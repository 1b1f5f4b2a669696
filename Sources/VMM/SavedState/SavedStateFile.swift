import Foundation
import GuestMemory

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Size and timing of one save or restore, for logs and benchmarks.
public struct SavedStateStatistics: Sendable, Hashable {
    /// The file's apparent size (metadata + the RAM image, holes included).
    public var fileBytes: UInt64
    /// RAM bytes actually stored (non-zero pages).
    public var ramBytesStored: UInt64
    /// Metadata bytes (header and typed sections).
    public var metadataBytes: UInt64
}

/// Reads and writes saved-state files (docs/saved-state.md): the metadata container, then guest
/// RAM at a 4 KiB-aligned offset as a sparse image (zero pages are holes).
public enum SavedStateFile {
    /// Writes `vm` and `memory` to `path` atomically: a temporary file in the same directory,
    /// `fsync`, `rename`, then `fsync` of the directory.
    @discardableResult
    public static func write(_ vm: SavedVM, memory: GuestMemory, to path: String) throws(SavedStateError)
        -> SavedStateStatistics
    {
        var container = try vm.container()
        // The RAM section's payload is fixed-size, so the metadata length is known before it is filled.
        container.set(.ram, [UInt8](repeating: 0, count: 16))
        let metadataLength = UInt64(container.encoded().count)
        let page = UInt64(GuestMemory.filePageSize)
        let ramOffset = (metadataLength + page - 1) / page * page
        var ramDescriptor: [UInt8] = []
        appendLE(&ramDescriptor, ramOffset)
        appendLE(&ramDescriptor, memory.totalSize)
        container.set(.ram, ramDescriptor)
        let metadata = container.encoded()

        let temporary = path + ".tmp"
        let fd = Glibc.open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SavedStateError("cannot create \(temporary): \(errnoText())") }
        var ok = false
        defer {
            close(fd)
            if !ok { unlink(temporary) }
        }
        let total = ramOffset + memory.totalSize
        guard ftruncate(fd, off_t(total)) == 0 else { throw SavedStateError("cannot size \(temporary): \(errnoText())") }
        do {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
            try handle.seek(toOffset: 0)
            try handle.write(contentsOf: metadata)
        } catch {
            throw SavedStateError("cannot write \(temporary): \(error)")
        }
        let stored: UInt64
        do {
            stored = try memory.writeSparse(toFileDescriptor: fd, at: ramOffset)
        } catch {
            throw SavedStateError("cannot write guest RAM to \(temporary): \(error)")
        }
        guard fsync(fd) == 0 else { throw SavedStateError("cannot sync \(temporary): \(errnoText())") }
        guard rename(temporary, path) == 0 else { throw SavedStateError("cannot rename \(temporary) to \(path): \(errnoText())") }
        ok = true
        syncDirectory(of: path)
        return SavedStateStatistics(fileBytes: total, ramBytesStored: stored, metadataBytes: UInt64(metadata.count))
    }

    /// An opened saved-state file whose metadata parsed and checked out; RAM is read by `loadRAM`.
    public struct Reader: Sendable {
        public let path: String
        public let vm: SavedVM
        let ramOffset: UInt64
        let ramLength: UInt64

        /// Copies the RAM image into `memory` (fresh memory of the saved size).
        public func loadRAM(into memory: GuestMemory) throws(SavedStateError) {
            guard memory.totalSize == ramLength else {
                throw SavedStateError("the saved RAM is \(ramLength) bytes, the VM has \(memory.totalSize)")
            }
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw SavedStateError("cannot open \(path): \(errnoText())") }
            defer { close(fd) }
            do {
                try memory.readSparse(fromFileDescriptor: fd, at: ramOffset)
            } catch {
                throw SavedStateError("cannot read guest RAM from \(path): \(error)")
            }
        }
    }

    /// Opens `path` and parses its metadata, checking magic, version, bounds and CRCs.
    /// - Throws: `SavedStateError` saying what is wrong with the file.
    public static func open(_ path: String) throws(SavedStateError) -> Reader {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SavedStateError("cannot open the saved state \(path): \(errnoText())") }
        defer { close(fd) }
        let header = try readBytes(fd, count: SavedStateContainer.headerSize, path: path, allowShort: true)
        let length = try SavedStateContainer.metadataLength(header: header)
        let metadata = try readBytes(fd, count: length, path: path)
        let container = try SavedStateContainer.decode(metadata)
        guard let ram = container[.ram], ram.count == 16 else { throw SavedStateError("the saved state has no valid 'RAM ' section") }
        let ramOffset: UInt64 = readLE(ram, 0)
        let ramLength: UInt64 = readLE(ram, 8)
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SavedStateError("cannot stat \(path): \(errnoText())") }
        guard ramOffset >= UInt64(length), ramOffset.addingReportingOverflow(ramLength).overflow == false,
            ramOffset + ramLength <= UInt64(st.st_size)
        else {
            throw SavedStateError("the saved state \(path) is truncated: RAM needs \(ramLength) bytes at \(ramOffset), the file has \(st.st_size)")
        }
        return Reader(path: path, vm: try SavedVM(container), ramOffset: ramOffset, ramLength: ramLength)
    }

    /// - Parameter allowShort: return fewer bytes at end of file (the header: a short file is
    ///   then reported as foreign by the magic check, not as truncated).
    private static func readBytes(_ fd: Int32, count: Int, path: String, allowShort: Bool = false) throws(SavedStateError)
        -> [UInt8]
    {
        let data: Data
        do {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
            try handle.seek(toOffset: 0)
            data = try handle.read(upToCount: count) ?? Data()
        } catch {
            throw SavedStateError("cannot read \(path): \(error)")
        }
        guard data.count == count || allowShort else {
            throw SavedStateError("the saved state \(path) is truncated (\(data.count) of \(count) metadata bytes)")
        }
        return Array(data)
    }

    private static func syncDirectory(of path: String) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let fd = Glibc.open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }
