import SocketTransport
import Synchronization

/// One client connection of `APIServer` (Unix, TCP or TLS) and whether it stays open after the
/// response being written (HTTP/1.1 keep-alive): `APIServer.write` reads `keepAlive` to choose
/// the `Connection` header, and streaming answers (events, console) clear it.
///
/// ## Concurrency model
/// The connection's thread decides `keepAlive`; the console's input thread only reads and
/// writes bytes. Both are what `ByteStream` allows; the flag is atomic.
final class ServerConnection: ByteStream {
    let stream: any ByteStream
    private let persistent = Atomic<Bool>(false)

    init(_ stream: any ByteStream) { self.stream = stream }

    var keepAlive: Bool {
        get { persistent.load(ordering: .relaxed) }
        set { persistent.store(newValue, ordering: .relaxed) }
    }

    func read(maximum: Int) throws -> [UInt8] { try stream.read(maximum: maximum) }
    func write(_ bytes: [UInt8]) throws { try stream.write(bytes) }
    func shutdown() { stream.shutdown() }
    func setReceiveTimeout(seconds: Int) { stream.setReceiveTimeout(seconds: seconds) }

    /// Whether the client asked to keep the connection: HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    static func wantsKeepAlive(_ head: HTTPHead) -> Bool {
        let tokens = (head.header("connection") ?? "").lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if tokens.contains("close") { return false }
        return head.startLine.count == 3 && head.startLine[2] == "HTTP/1.1" || tokens.contains("keep-alive")
    }
}
