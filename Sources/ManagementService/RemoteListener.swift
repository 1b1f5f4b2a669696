import Foundation
import SocketTransport

/// The bearer token every request on the TCP listener must carry (`Authorization: Bearer …`).
public struct BearerToken: Sendable {
    let bytes: [UInt8]
    /// Shorter tokens are refused: a remote peer may guess as often as it likes.
    public static let minimumLength = 16

    /// - Throws: `ServiceStartError` when the file is missing, readable by others (the message
    ///   says chmod 600), or holds no usable token.
    public static func load(path: String) throws(ServiceStartError) -> BearerToken {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
            throw ServiceStartError("cannot read the token file \(path): \(error.localizedDescription)")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular,
            ((attributes[.size] as? NSNumber)?.intValue ?? Int.max) <= 4096
        else {
            throw ServiceStartError("the token file \(path) must be a regular file of at most 4 KiB")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard mode & 0o007 == 0 else {
            throw ServiceStartError(
                "the token file \(path) is accessible to other users (mode \(String(mode, radix: 8))); run chmod 600 \(path)")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else {
            throw ServiceStartError("cannot read the token file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.utf8.count >= minimumLength, !text.contains(where: { $0.isWhitespace }) else {
            throw ServiceStartError(
                "the token in \(path) must be one line of at least \(minimumLength) characters without spaces (e.g. openssl rand -hex 32)")
        }
        return BearerToken(bytes: Array(text.utf8))
    }

    /// Whether an `Authorization` header value carries this token. Constant time in the token's
    /// contents: every byte is compared whatever the first difference.
    func accepts(authorization: String?) -> Bool {
        guard let authorization else { return false }
        let scheme = "bearer "
        guard authorization.count > scheme.count, authorization.prefix(scheme.count).lowercased() == scheme else { return false }
        let presented = Array(authorization.utf8.dropFirst(scheme.utf8.count))
        // A length difference counts as such (not folded into a byte: lengths 256 apart would
        // cancel out and a token with any 256-byte tail would pass).
        var difference: UInt8 = presented.count == bytes.count ? 0 : 1
        for i in 0..<bytes.count {
            difference |= bytes[i] ^ (i < presented.count ? presented[i] : 0)
        }
        return difference == 0
    }
}

/// hvd's optional TCP listener: TLS (1.2+) by default, plain TCP only on loopback with
/// `--insecure-plain-tcp`; a bearer token on every request either way.
public struct RemoteListener: Sendable {
    public let host: String
    public let socket: UnixSocket
    /// nil: plain TCP (loopback only).
    public let tls: TLSContext?
    public let token: BearerToken

    /// The port actually bound (differs from the requested one for port 0).
    public var port: UInt16 { socket.localPort ?? 0 }

    /// "https://HOST:PORT" or "http://HOST:PORT".
    public var url: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "\(tls == nil ? "http" : "https")://\(shownHost):\(port)"
    }

    /// Checks the options and binds the listener.
    /// - Parameters:
    ///   - listen: "HOST:PORT" ("[::1]:8443" for IPv6).
    /// - Throws: `ServiceStartError` with a message naming the option to fix.
    public static func open(
        listen: String, certificate: String?, key: String?, tokenFile: String?, insecurePlainTCP: Bool
    ) throws(ServiceStartError) -> RemoteListener {
        guard let (host, port) = parse(listen) else {
            throw ServiceStartError("--listen takes HOST:PORT (for example 0.0.0.0:8443 or [::1]:8443), not \(listen)")
        }
        guard let tokenFile else {
            throw ServiceStartError("--listen needs --token-file: every TCP request must carry a bearer token")
        }
        let token = try BearerToken.load(path: tokenFile)
        let tls: TLSContext?
        if insecurePlainTCP {
            guard certificate == nil, key == nil else {
                throw ServiceStartError("--insecure-plain-tcp turns TLS off; drop --tls-certificate and --tls-key, or drop it")
            }
            guard UnixSocket.isLoopback(host: host) else {
                throw ServiceStartError(
                    "--insecure-plain-tcp is allowed only on a loopback address (127.0.0.1, ::1, localhost), not \(host): use TLS with --tls-certificate and --tls-key"
                )
            }
            tls = nil
        } else {
            guard let certificate, let key else {
                throw ServiceStartError(
                    "--listen needs --tls-certificate and --tls-key (PEM files); plain TCP is only for loopback with --insecure-plain-tcp")
            }
            do { tls = try TLSContext.server(certificateChain: certificate, privateKey: key) } catch {
                throw ServiceStartError("\(error)")
            }
        }
        do {
            return RemoteListener(host: host, socket: try UnixSocket.listenTCP(host: host, port: port), tls: tls, token: token)
        } catch {
            throw ServiceStartError("cannot listen on \(listen): \(error)")
        }
    }

    /// Splits "HOST:PORT" / "[V6]:PORT".
    static func parse(_ text: String) -> (String, UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.count < 256 else { return nil }
        return (host, port)
    }
}
