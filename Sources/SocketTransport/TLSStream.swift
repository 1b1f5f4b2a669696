import COpenSSL
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Why a TLS setup or handshake failed, with OpenSSL's own words.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ what: String) {
        // Drain the thread's OpenSSL error queue into the message (it would otherwise leak into
        // the next failure reported on this thread).
        var reasons: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        description = reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))"
    }
    init(plain: String) { description = plain }
}

/// An OpenSSL `SSL_CTX`, configured once and then only used to make connections.
///
/// ## Concurrency model
/// `@unchecked Sendable`: OpenSSL (1.1+) locks an `SSL_CTX` internally for `SSL_new`, and this
/// type never changes the context after `init`, so sharing it between threads is what OpenSSL
/// supports. The pointer is freed only in `deinit`.
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    /// Client side: the name checked against the server's certificate is set per connection.
    let isServer: Bool

    private init(server: Bool) throws(TLSError) {
        guard let context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()) else {
            throw TLSError("SSL_CTX_new")
        }
        self.context = context
        isServer = server
        // TLS 1.2 is the oldest version either side speaks.
        guard copenssl_set_min_proto_tls12(context) == 1 else { throw TLSError("cannot require TLS 1.2 or newer") }
        // A peer that closes without close_notify ends the stream like a plain socket's EOF
        // (HTTP framing, not TLS, tells a complete answer from a cut one).
        copenssl_ignore_unexpected_eof(context)
        // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a closed peer must be an error,
        // not a SIGPIPE that kills the process.
        signal(SIGPIPE, SIG_IGN)
    }

    deinit { SSL_CTX_free(context) }

    /// A server context with a PEM certificate chain and its PEM private key.
    public static func server(certificateChain: String, privateKey: String) throws(TLSError) -> TLSContext {
        let tls = try TLSContext(server: true)
        guard SSL_CTX_use_certificate_chain_file(tls.context, certificateChain) == 1 else {
            throw TLSError("cannot load the TLS certificate \(certificateChain)")
        }
        guard SSL_CTX_use_PrivateKey_file(tls.context, privateKey, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("cannot load the TLS key \(privateKey)")
        }
        guard SSL_CTX_check_private_key(tls.context) == 1 else {
            throw TLSError("the TLS key \(privateKey) does not match the certificate \(certificateChain)")
        }
        return tls
    }

    /// A client context that verifies the server's certificate against `caCertificates` (a PEM
    /// file), or against the system trust store when nil.
    public static func client(caCertificates: String?) throws(TLSError) -> TLSContext {
        let tls = try TLSContext(server: false)
        SSL_CTX_set_verify(tls.context, SSL_VERIFY_PEER, nil)
        if let caCertificates {
            guard SSL_CTX_load_verify_locations(tls.context, caCertificates, nil) == 1 else {
                throw TLSError("cannot load the CA certificate \(caCertificates)")
            }
        } else {
            guard SSL_CTX_set_default_verify_paths(tls.context) == 1 else { throw TLSError("cannot load the system trust store") }
        }
        return tls
    }
}

/// TLS over a connected socket: a `ByteStream`, so the HTTP server and client use it exactly as
/// they use a plain socket.
///
/// ## Concurrency model
/// An `SSL` object must not be used by two threads at once, but the console relays in both
/// directions at once. Every OpenSSL call on it therefore runs under `ssl`'s lock; a reader first
/// waits for the socket to become readable *without* the lock (`poll`), so a writer is not
/// blocked behind an idle reader. The socket's receive timeout bounds both waits.
public final class TLSStream: ByteStream {
    /// The `SSL` pointer, only touched under the lock.
    private struct Handle: ~Copyable {
        let ssl: OpaquePointer
        // SSL_free does not close the descriptor (SSL_set_fd's BIO is BIO_NOCLOSE).
        deinit { SSL_free(ssl) }
    }
    public let socket: UnixSocket
    private let ssl: Mutex<Handle>
    /// Seconds a read waits for data (0: forever); mirrors the socket's SO_RCVTIMEO.
    private let receiveTimeout = Atomic<Int>(0)

    // close_notify, best effort (the peer may be gone; SIGPIPE is ignored). Here, not in
    // `Handle`, because a class's deinit runs before its stored properties are destroyed: the
    // socket is still open, so the alert cannot land on a descriptor number reused meanwhile.
    deinit {
        ssl.withLock { handle in
            if SSL_is_init_finished(handle.ssl) == 1 { _ = SSL_shutdown(handle.ssl) }
            ERR_clear_error()
        }
    }

    private init(socket: UnixSocket, context: TLSContext) throws(TLSError) {
        guard let ssl = SSL_new(context.context) else { throw TLSError("SSL_new") }
        guard SSL_set_fd(ssl, socket.fd) == 1 else {
            SSL_free(ssl)
            throw TLSError("SSL_set_fd")
        }
        self.socket = socket
        self.ssl = Mutex(Handle(ssl: ssl))
    }

    /// Runs the server side of the handshake on an accepted connection.
    public static func accept(_ socket: UnixSocket, context: TLSContext) throws(TLSError) -> TLSStream {
        let stream = try TLSStream(socket: socket, context: context)
        try stream.handshake { SSL_accept($0) }
        return stream
    }

    /// Runs the client side of the handshake, checking the certificate names `serverName` (a DNS
    /// name or an IP address).
    public static func connect(_ socket: UnixSocket, context: TLSContext, serverName: String) throws(TLSError) -> TLSStream {
        let stream = try TLSStream(socket: socket, context: context)
        let isAddress = serverName.contains(":") || serverName.allSatisfy { $0.isNumber || $0 == "." }
        let named: Bool = stream.ssl.withLock { handle in
            if isAddress {
                // IP addresses are matched against the certificate's iPAddress names, not DNS names.
                return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle.ssl), serverName) == 1
            }
            _ = copenssl_set_tlsext_host_name(handle.ssl, serverName)
            return SSL_set1_host(handle.ssl, serverName) == 1
        }
        guard named else { throw TLSError("cannot check the certificate for \(serverName)") }
        do {
            try stream.handshake { SSL_connect($0) }
        } catch {
            let result = stream.ssl.withLock { SSL_get_verify_result($0.ssl) }
            if Int(result) != Int(X509_V_OK) {
                let reason = String(cString: X509_verify_cert_error_string(result))
                throw TLSError(plain: "the server's certificate was not accepted: \(reason)")
            }
            throw error
        }
        return stream
    }

    private func handshake(_ step: (OpaquePointer) -> Int32) throws(TLSError) {
        let failure: String? = ssl.withLock { handle in
            let rc = step(handle.ssl)
            guard rc != 1 else { return nil }
            let error = SSL_get_error(handle.ssl, rc)
            return error == SSL_ERROR_SYSCALL ? "the connection closed during the TLS handshake" : "TLS handshake failed"
        }
        if let failure { throw TLSError(failure) }
    }

    /// The negotiated protocol, e.g. "TLSv1.3".
    public var protocolVersion: String { ssl.withLock { String(cString: SSL_get_version($0.ssl)) } }

    public func read(maximum: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max(1, min(maximum, 1 << 20)))
        while true {
            // Bytes OpenSSL already holds (decrypted, or a partly read record) need no poll.
            let buffered = ssl.withLock { SSL_has_pending($0.ssl) == 1 }
            if !buffered, try !waitReadable() { throw SocketError("recv", code: EAGAIN) }
            let (n, error) = ssl.withLock { handle -> (Int32, Int32) in
                let n = SSL_read(handle.ssl, &buffer, Int32(buffer.count))
                return (n, n > 0 ? SSL_ERROR_NONE : SSL_get_error(handle.ssl, n))
            }
            if n > 0 { return Array(buffer[0..<Int(n)]) }
            switch error {
            case SSL_ERROR_ZERO_RETURN: return []
            // A TLS 1.3 ticket or a partial record: wait for more.
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: continue
            case SSL_ERROR_SYSCALL:
                if errno == EINTR { continue }
                // An unexpected EOF or a reset: end of stream, as for a plain socket.
                if errno == 0 || errno == ECONNRESET || errno == EPIPE { return [] }
                throw SocketError("recv")
            default:
                ERR_clear_error()
                throw SocketError("TLS read failed", code: EPROTO)
            }
        }
    }

    /// Waits until the socket has bytes (or EOF); false on timeout.
    private func waitReadable() throws -> Bool {
        let timeout = receiveTimeout.load(ordering: .relaxed)
        var entry = pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&entry, 1, timeout > 0 ? Int32(clamping: timeout * 1000) : -1)
            if rc > 0 { return true }
            if rc == 0 { return false }
            if errno != EINTR { throw SocketError("poll") }
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let chunk = Array(bytes[offset..<min(bytes.count, offset + (1 << 20))])
            let (n, error) = ssl.withLock { handle -> (Int32, Int32) in
                let n = SSL_write(handle.ssl, chunk, Int32(chunk.count))
                return (n, n > 0 ? SSL_ERROR_NONE : SSL_get_error(handle.ssl, n))
            }
            if n > 0 {
                offset += Int(n)
                continue
            }
            if error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ || (error == SSL_ERROR_SYSCALL && errno == EINTR) { continue }
            ERR_clear_error()
            throw SocketError("send", code: error == SSL_ERROR_SYSCALL ? errno : EPIPE)
        }
    }

    /// Shuts the socket down (close_notify is sent when the stream is freed, if still possible):
    /// no lock, so it never waits behind a blocked reader.
    public func shutdown() { socket.shutdown() }

    public func setReceiveTimeout(seconds: Int) {
        receiveTimeout.store(seconds, ordering: .relaxed)
        socket.setReceiveTimeout(seconds: seconds)
    }
}
