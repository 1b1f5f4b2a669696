import Foundation
import SocketTransport

/// An in-process HTTP server on a Unix socket that answers from a table (STYLE G13): tests the
/// client and the commands without `hvd`.
final class StubServer: Sendable {
    let path: String
    private let listener: UnixSocket
    /// "METHOD /path" → (status, JSON body).
    let routes: [String: (Int, String)]

    init(routes: [String: (Int, String)]) throws {
        path = "/tmp/hvstub-\(UUID().uuidString.prefix(8)).sock"
        self.routes = routes
        listener = try UnixSocket.listen(path: path)
        let thread = Thread { [self] in
            while let connection = try? listener.accept() {
                let reader = BufferedReader(connection)
                guard let head = try? reader.readHTTPHead(), head.startLine.count >= 2 else { continue }
                _ = try? reader.readHTTPBody(for: head, limit: 1 << 20)
                let key = head.startLine[0] + " " + (head.startLine[1].split(separator: "?").first.map(String.init) ?? "")
                let (status, body) = routes[key] ?? (404, #"{"error":"not_found","message":"no route \#(key)"}"#)
                let bytes = Array(body.utf8)
                let answer = HTTPHead(
                    startLine: ["HTTP/1.1", "\(status)", "X"],
                    headers: [("content-length", "\(bytes.count)"), ("content-type", "application/json")])
                try? connection.write(answer.serialized() + bytes)
            }
        }
        thread.start()
    }

    deinit {
        listener.shutdown()
        unlink(path)
    }
}
