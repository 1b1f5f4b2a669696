import Foundation
import SocketTransport

/// hvd's TCP listener as `hv --host` names it: `https://HOST:PORT` (TLS, certificate and host
/// name verified) or `http://HOST:PORT` (only what `hvd --insecure-plain-tcp` serves, on
/// loopback), plus the bearer token every request carries.
public struct RemoteEndpoint: Sendable {
    public let host: String
    public let port: UInt16
    /// nil for http://.
    public let tls: TLSContext?
    let token: String

    /// "https://HOST:PORT".
    public var url: String { "\(tls == nil ? "http" : "https")://\(hostHeader)" }
    var hostHeader: String { (host.contains(":") ? "[\(host)]" : host) + ":\(port)" }

    /// - Parameters:
    ///   - url: `https://HOST[:PORT]` (port 443 when left out) or `http://HOST:PORT`.
    ///   - tokenFile: the file holding the bearer token (the same token as hvd's --token-file).
    ///   - caCertificate: a PEM file of the CA (or the self-signed certificate) to trust; nil
    ///     trusts the system store.
    public init(url: String, tokenFile: String, caCertificate: String?) throws(HVClientError) {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "https" || scheme == "http",
            var host = parsed.host, !host.isEmpty, parsed.path.isEmpty || parsed.path == "/"
        else {
            throw .protocolError("--host takes https://HOST:PORT, not \(url)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = UInt16(exactly: parsed.port ?? (scheme == "https" ? 443 : 80)) else {
            throw .protocolError("bad port in \(url)")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: tokenFile)[.size] as? NSNumber)?.intValue ?? 0
        guard size <= 4096, let data = FileManager.default.contents(atPath: tokenFile) else {
            throw .protocolError("cannot read the token file \(tokenFile)")
        }
        let token = String(decoding: data.prefix(4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty, !token.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw .protocolError("the token file \(tokenFile) must hold one token on one line")
        }
        self.host = host
        self.port = port
        self.token = token
        if scheme == "https" {
            do { tls = try TLSContext.client(caCertificates: caCertificate) } catch { throw .protocolError(error.description) }
        } else {
            tls = nil
        }
    }

    /// A connected stream, after the TLS handshake (certificate and host name checked).
    func connect() throws(HVClientError) -> any ByteStream {
        let socket: UnixSocket
        do { socket = try UnixSocket.connectTCP(host: host, port: port) } catch { throw .unreachable(url, "\(error)") }
        // No receive timeout, as on the Unix socket: a graceful stop or a console may be quiet
        // for minutes.
        guard let tls else { return socket }
        do {
            return try TLSStream.connect(socket, context: tls, serverName: host)
        } catch {
            throw .unreachable(url, "TLS: \(error.description)")
        }
    }
}
