#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Musl)
@preconcurrency import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `DiskFile` over a POSIX file descriptor (pread/pwrite/fdatasync/fallocate).
///
/// ## Concurrency model
/// Holds only an immutable descriptor; pread and pwrite take explicit offsets, so concurrent
/// calls from several threads are safe without a lock. The descriptor closes in `deinit`.
public final class PosixFile: DiskFile {
    let fd: Int32
    public let path: String
    public let isReadOnly: Bool
    public let identity: String

    /// Opens an existing file.
    /// - Throws: `.notFound` if it does not exist, `.io` otherwise.
    public init(path: String, readOnly: Bool) throws {
        let flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        let fd = open(path, flags)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { throw VirtualDiskError(.notFound, "no such file: \(path)") }
            throw VirtualDiskError(.io, "cannot open \(path): \(String(cString: strerror(err)))")
        }
        self.fd = fd
        self.path = path
        self.isReadOnly = readOnly
        var st = stat()
        self.identity = fstat(fd, &st) == 0 ? "\(st.st_dev):\(st.st_ino)" : path
    }

    /// Creates a new file; refuses to overwrite an existing one (bad input loses nothing).
    /// - Throws: `.invalidArgument` if the file exists.
    public static func create(path: String) throws -> PosixFile {
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let err = errno
            if err == EEXIST {
                throw VirtualDiskError(.invalidArgument, "\(path) already exists; remove it or choose another name")
            }
            throw VirtualDiskError(.io, "cannot create \(path): \(String(cString: strerror(err)))")
        }
        close(fd)
        return try PosixFile(path: path, readOnly: false)
    }

    deinit { close(fd) }

    private func ioError(_ what: String) -> VirtualDiskError {
        VirtualDiskError(.io, "\(what) failed on \(path): \(String(cString: strerror(errno)))")
    }

    public func read(at offset: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        guard offset <= UInt64(Int64.max) else { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            // SAFETY: the buffer holds `count` bytes and we pass only its unread tail.
            let n = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(fd, base + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("read")
            }
            if n == 0 { break }
            done += n
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    public func write(at offset: UInt64, _ bytes: ArraySlice<UInt8>) throws {
        guard !isReadOnly else { throw VirtualDiskError(.readOnly, "\(path) is open read-only") }
        guard offset <= UInt64(Int64.max) else { throw VirtualDiskError(.outOfRange, "offset \(offset) too large") }
        var done = 0
        let count = bytes.count
        while done < count {
            // SAFETY: the slice is contiguous storage of `count` bytes; we pass its unwritten tail.
            let n = bytes.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pwrite(fd, base + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write")
            }
            done += n
        }
    }

    public func size() throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("fstat") }
        return UInt64(st.st_size)
    }

    public func setSize(_ size: UInt64) throws {
        guard size <= UInt64(Int64.max) else { throw VirtualDiskError(.outOfRange, "size \(size) too large") }
        while ftruncate(fd, off_t(size)) != 0 {
            if errno != EINTR { throw ioError("ftruncate") }
        }
    }

    public func sync() throws {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw ioError("fdatasync") }
        }
    }

    public func punchHole(at offset: UInt64, length: UInt64) throws -> Bool {
        guard let fallocate = Fallocate.function else { return false }
        let punchHoleKeepSize: Int32 = 0x02 | 0x01  // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        while fallocate(fd, punchHoleKeepSize, off_t(offset), off_t(length)) != 0 {
            let err = errno
            if err == EINTR { continue }
            if err == EOPNOTSUPP || err == ENOSYS { return false }
            throw ioError("fallocate(PUNCH_HOLE)")
        }
        return true
    }

    public func allocatedBytes() throws -> UInt64 {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ioError("fstat") }
        return UInt64(st.st_blocks) * 512
    }
}

/// `fallocate(2)` is declared only under `_GNU_SOURCE`, which the Glibc module does not set,
/// so it is looked up once at run time instead of adding a C target for one function.
enum Fallocate {
    typealias Function = @convention(c) (Int32, Int32, off_t, off_t) -> Int32
    static let function: Function? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return nil }
        // SAFETY: glibc's fallocate has exactly this C signature (int, int, off_t, off_t) -> int.
        return unsafeBitCast(symbol, to: Function.self)
    }()
}

extension PosixFile {
    /// fallocate(mode 0) with KEEP_SIZE semantics not needed: the range lies inside the file.
    func preallocateRange(at offset: UInt64, length: UInt64) throws -> Bool {
        guard let fallocate = Fallocate.function else { return false }
        while fallocate(fd, 0, off_t(offset), off_t(length)) != 0 {
            let err = errno
            if err == EINTR { continue }
            if err == EOPNOTSUPP || err == ENOSYS { return false }
            throw VirtualDiskError(.io, "fallocate failed on \(path): \(String(cString: strerror(err)))")
        }
        return true
    }
}
