#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A Linux TAP interface (`/dev/net/tun` with `IFF_TAP | IFF_NO_PI`): each read returns one
/// Ethernet frame the host sent to the interface, each write injects one frame from the guest.
/// It lives here because `TUNSETIFF` takes a `struct ifreq` pointer, and this target is where
/// the project keeps its few socket-style pointer calls.
///
/// ## Concurrency model
/// The descriptor is immutable, non-blocking and closed only in `deinit`, so no thread can use a
/// closed (and possibly reused) descriptor. One thread reads (`read(timeoutMilliseconds:)`), any
/// thread writes; the kernel keeps frames whole.
public final class TAPInterface: Sendable {
    public let fd: Int32
    /// The interface name the kernel confirmed.
    public let name: String

    /// `TUNSETIFF` = `_IOW('T', 202, int)` (the macro does not import into Swift).
    static let tunSetIFF: UInt = 0x4004_54CA
    static let iffTAP: Int16 = 0x0002
    static let iffNoPI: Int16 = 0x1000
    /// `sizeof(struct ifreq)`; the name is at 0 (`IFNAMSIZ` 16), `ifr_flags` at 16.
    static let ifreqSize = 40
    /// The longest frame read: a 64 KiB frame (GSO is not enabled, so 1514 is the norm).
    public static let maxFrame = 65536

    private init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    deinit { Glibc.close(fd) }

    /// Opens `/dev/net/tun` and creates or attaches the TAP interface `name`.
    /// - Throws: `SocketError` (EPERM without CAP_NET_ADMIN when the interface does not exist or
    ///   belongs to another user; ENOENT without /dev/net/tun).
    public static func open(name: String) throws -> TAPInterface {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count < 16, !bytes.contains(0) else {
            throw SocketError("TAP name \"\(name)\" (1 to 15 bytes)", code: EINVAL)
        }
        let fd = Glibc.open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw SocketError("open /dev/net/tun") }
        var request = [UInt8](repeating: 0, count: ifreqSize)
        request.replaceSubrange(0..<bytes.count, with: bytes)
        let flags = UInt16(bitPattern: iffTAP | iffNoPI)
        request[16] = UInt8(truncatingIfNeeded: flags)
        request[17] = UInt8(truncatingIfNeeded: flags >> 8)
        // SAFETY: the kernel reads and writes sizeof(struct ifreq) = 40 bytes, which `request` holds.
        let result = request.withUnsafeMutableBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return -1 }
            return ioctl(fd, tunSetIFF, base)
        }
        guard result == 0 else {
            let error = SocketError("TUNSETIFF \(name)")
            Glibc.close(fd)
            throw error
        }
        let confirmed = String(decoding: request.prefix(16).prefix { $0 != 0 }, as: UTF8.self)
        return TAPInterface(fd: fd, name: confirmed)
    }

    /// Waits up to `timeoutMilliseconds` for a frame.
    /// - Returns: the frame, or `nil` on timeout.
    /// - Throws: `SocketError` when the interface went away.
    public func read(timeoutMilliseconds: Int32) throws -> [UInt8]? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready < 0 {
            if errno == EINTR { return nil }
            throw SocketError("poll TAP \(name)")
        }
        guard ready > 0 else { return nil }
        var frame = [UInt8](repeating: 0, count: Self.maxFrame)
        // SAFETY: read(2) writes at most `count` bytes into the array's buffer.
        let count = frame.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return Glibc.read(fd, base, raw.count)
        }
        if count < 0 {
            if errno == EAGAIN || errno == EINTR { return nil }
            throw SocketError("read TAP \(name)")
        }
        frame.removeSubrange(count...)
        return frame
    }

    /// Writes one frame.
    /// - Returns: false when the kernel refused it (queue full, interface down).
    public func write(_ frame: [UInt8]) -> Bool {
        // SAFETY: write(2) reads exactly `count` bytes from the array's buffer.
        let written = frame.withUnsafeBytes { raw -> Int in
            guard let base = raw.baseAddress else { return -1 }
            return Glibc.write(fd, base, raw.count)
        }
        return written == frame.count
    }
}
