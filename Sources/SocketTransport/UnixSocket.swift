#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// An error from a socket system call, with the call's name and `errno`.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public init(_ call: String, code: Int32 = errno) {
        self.call = call
        self.code = code
    }
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
    /// The peer or the path is not there (ENOENT, ECONNREFUSED).
    public var isNotListening: Bool { code == ENOENT || code == ECONNREFUSED }
}

/// A stream socket (listening or connected), close-on-exec: Unix, or TCP (`UnixSocket+TCP.swift`).
///
/// ## Concurrency model
/// The descriptor is immutable and closed only in `deinit`, so no thread can use a closed (and
/// possibly reused) descriptor. `shutdown()` wakes a thread blocked in `read` or `accept`;
/// reads and writes from different threads are what the kernel allows on one socket (one reader
/// and one writer at a time is what callers do).
public final class UnixSocket: Sendable {
    public let fd: Int32

    init(fd: Int32) { self.fd = fd }

    deinit { Glibc.close(fd) }

    /// The longest path `sockaddr_un` holds (including the terminating NUL).
    public static let maximumPathLength = 108

    private static func makeAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < maximumPathLength else {
            throw SocketError("socket path too long (\(bytes.count) bytes, at most \(maximumPathLength - 1)): \(path)", code: ENAMETOOLONG)
        }
        // SAFETY: sun_path is a fixed 108-byte tuple; we write at most 107 bytes plus the NUL that
        // the zero-initialised address already holds.
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return address
    }

    private static func withSockaddr<T>(_ address: inout sockaddr_un, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        // SAFETY: sockaddr_un starts with the common sockaddr header; the kernel reads `length` bytes.
        withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    private static func newSocket() throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        return fd
    }

    /// Listens on `path` (replacing a stale socket file there) with file mode `mode`.
    public static func listen(path: String, mode: mode_t = 0o660, backlog: Int32 = 64) throws -> UnixSocket {
        var address = try makeAddress(path)
        let fd = try newSocket()
        let socket = UnixSocket(fd: fd)
        unlink(path)
        let bound = withSockaddr(&address) { bind(fd, $0, $1) }
        guard bound == 0 else { throw SocketError("bind \(path)") }
        guard chmod(path, mode) == 0 else { throw SocketError("chmod \(path)") }
        guard Glibc.listen(fd, backlog) == 0 else { throw SocketError("listen \(path)") }
        return socket
    }

    /// Connects to the socket at `path`.
    public static func connect(path: String) throws -> UnixSocket {
        var address = try makeAddress(path)
        let socket = UnixSocket(fd: try newSocket())
        while true {
            let result = withSockaddr(&address) { Glibc.connect(socket.fd, $0, $1) }
            if result == 0 { return socket }
            if errno == EINTR { continue }
            throw SocketError("connect \(path)")
        }
    }

    /// Waits for the next connection. Throws after `shutdown()`.
    public func accept() throws -> UnixSocket {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                // Glibc's module map hides accept4; set close-on-exec right away (hvd spawns
                // workers only from its own threads, and a leaked descriptor only delays an EOF).
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return UnixSocket(fd: client)
            }
            if errno == EINTR || errno == ECONNABORTED { continue }
            throw SocketError("accept")
        }
    }

    /// Reads up to `maximum` bytes; an empty array means end of stream.
    public func read(maximum: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let n = recv(fd, &buffer, maximum, 0)
            if n >= 0 { return Array(buffer[0..<n]) }
            if errno == EINTR { continue }
            if errno == ECONNRESET { return [] }
            throw SocketError("recv")
        }
    }

    /// Writes every byte (no SIGPIPE: a closed peer is an error).
    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withContiguousStorageIfAvailable { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } ?? -1
            if n < 0 {
                if errno == EINTR { continue }
                throw SocketError("send")
            }
            offset += n
        }
    }

    /// Sets a receive timeout (0: none) so a silent peer cannot hold a thread forever.
    public func setReceiveTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Ends both directions: wakes any thread blocked in `read` or `accept`.
    public func shutdown() { Glibc.shutdown(fd, Int32(SHUT_RDWR)) }
}
