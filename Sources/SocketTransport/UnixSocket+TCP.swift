#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// TCP on the same socket type: hvd's optional remote listener and `hv --host`.
extension UnixSocket {
    /// Resolves `host` (a name or a numeric address) for a TCP socket.
    private static func resolve(host: String, port: UInt16, passive: Bool) throws -> [(family: Int32, address: [UInt8])] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = passive ? AI_PASSIVE : 0
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host.isEmpty ? nil : host, String(port), &hints, &list)
        guard rc == 0 else {
            throw SocketError("resolve \(host): \(String(cString: gai_strerror(rc)))", code: EINVAL)
        }
        defer { freeaddrinfo(list) }
        var out: [(family: Int32, address: [UInt8])] = []
        var next = list
        // SAFETY: getaddrinfo returned a NULL-terminated list; each ai_addr holds ai_addrlen bytes.
        while let entry = next?.pointee {
            if let addr = entry.ai_addr, entry.ai_family == AF_INET || entry.ai_family == AF_INET6 {
                let bytes = UnsafeRawBufferPointer(start: addr, count: Int(entry.ai_addrlen))
                out.append((entry.ai_family, Array(bytes)))
            }
            next = entry.ai_next
        }
        guard !out.isEmpty else { throw SocketError("resolve \(host): no IPv4 or IPv6 address", code: EINVAL) }
        return out
    }

    private static func withAddress<T>(_ address: [UInt8], _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var storage = sockaddr_storage()
        let length = min(address.count, MemoryLayout<sockaddr_storage>.size)
        // SAFETY: `address` is a sockaddr_in/sockaddr_in6 from getaddrinfo; it is copied into a
        // sockaddr_storage (large and aligned enough for either) and the kernel reads `length` bytes.
        withUnsafeMutableBytes(of: &storage) { raw in
            for i in 0..<length { raw[i] = address[i] }
        }
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(length)) }
        }
    }

    /// Listens on TCP `host:port` (the first address `host` resolves to), SO_REUSEADDR set.
    public static func listenTCP(host: String, port: UInt16, backlog: Int32 = 64) throws -> UnixSocket {
        let target = try resolve(host: host, port: port, passive: true)[0]
        let fd = socket(target.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SocketError("socket") }
        let socket = UnixSocket(fd: fd)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard withAddress(target.address, { bind(fd, $0, $1) }) == 0 else { throw SocketError("bind \(host):\(port)") }
        guard Glibc.listen(fd, backlog) == 0 else { throw SocketError("listen \(host):\(port)") }
        return socket
    }

    /// Connects to TCP `host:port`, trying each address the name resolves to. TCP_NODELAY is set:
    /// requests are small and a client waits for each answer.
    public static func connectTCP(host: String, port: UInt16) throws -> UnixSocket {
        var lastError = SocketError("connect \(host):\(port)", code: EHOSTUNREACH)
        for target in try resolve(host: host, port: port, passive: false) {
            let fd = socket(target.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw SocketError("socket") }
            let socket = UnixSocket(fd: fd)
            while true {
                if withAddress(target.address, { Glibc.connect(fd, $0, $1) }) == 0 {
                    socket.setNoDelay()
                    return socket
                }
                if errno == EINTR { continue }
                lastError = SocketError("connect \(host):\(port)")
                break
            }
        }
        throw lastError
    }

    /// Disables Nagle's algorithm on a TCP socket (a no-op error on a Unix socket, ignored).
    public func setNoDelay() {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The local port of a bound TCP socket (for a listener on port 0).
    public var localPort: UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        // SAFETY: getsockname writes at most `length` bytes into the sockaddr_storage.
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { return nil }
        // sin_port and sin6_port sit at the same offset (2), in network byte order.
        let bytes = withUnsafeBytes(of: storage) { Array($0.prefix(4)) }
        return UInt16(bytes[2]) << 8 | UInt16(bytes[3])
    }

    /// Whether every address `host` resolves to is a loopback address (127.0.0.0/8, ::1).
    /// False when it does not resolve.
    public static func isLoopback(host: String) -> Bool {
        guard !host.isEmpty, let targets = try? resolve(host: host, port: 0, passive: false) else { return false }
        return targets.allSatisfy { target in
            if target.family == AF_INET {
                // sockaddr_in: family (2), port (2), address (4).
                return target.address.count >= 8 && target.address[4] == 127
            }
            // sockaddr_in6: family (2), port (2), flowinfo (4), address (16).
            guard target.address.count >= 24 else { return false }
            let address = target.address[8..<24]
            return address.dropLast().allSatisfy { $0 == 0 } && address.last == 1
        }
    }

    /// Sets the group of the socket file at `path` (chown to the group, owner kept).
    public static func setGroup(path: String, group: String) throws {
        guard let entry = getgrnam(group) else { throw SocketError("no group named \(group)", code: ENOENT) }
        guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else { throw SocketError("chown \(path) to group \(group)") }
    }
}
