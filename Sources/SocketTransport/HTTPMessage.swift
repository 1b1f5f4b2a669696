/// Minimal HTTP/1.1 message framing for the management API (Unix socket, TCP, TLS): request and
/// response heads with bounded sizes and a Content-Length body. No chunked bodies (the server
/// answers 400 for them). The server keeps connections alive between requests; `HVClient` sends
/// one request per connection (`Connection: close`), which is what a CLI does anyway.
public struct HTTPHead: Sendable, Equatable {
    /// Request: method, target; response: "HTTP/1.1", status code as text.
    public var startLine: [String]
    /// Header names lowercased, in order.
    public var headers: [(name: String, value: String)]

    public static func == (a: HTTPHead, b: HTTPHead) -> Bool {
        a.startLine == b.startLine && a.headers.map(\.name) == b.headers.map(\.name)
            && a.headers.map(\.value) == b.headers.map(\.value)
    }

    public init(startLine: [String], headers: [(name: String, value: String)]) {
        self.startLine = startLine
        self.headers = headers
    }

    /// The first value of a header (name case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }

    /// The largest head either side reads.
    public static let maximumHeadSize = 16 * 1024
    public static let maximumHeaders = 64

    /// Parses a head (the bytes up to and including the blank line).
    public static func parse(_ bytes: [UInt8]) throws -> HTTPHead {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw FramingError.malformed("head is not UTF-8") }
        var lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        guard let first = lines.first else { throw FramingError.malformed("empty head") }
        let startLine = first.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard startLine.count >= 2 else { throw FramingError.malformed("bad start line") }
        guard lines.count - 1 <= maximumHeaders else { throw FramingError.malformed("too many headers") }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw FramingError.malformed("header without ':'") }
            let name = line[..<colon].trimmingWhitespace().lowercased()
            guard !name.isEmpty, !name.contains(" ") else { throw FramingError.malformed("bad header name") }
            headers.append((name, String(line[line.index(after: colon)...].trimmingWhitespace())))
        }
        return HTTPHead(startLine: startLine, headers: headers)
    }

    /// The head's bytes, ending with the blank line.
    public func serialized() -> [UInt8] {
        var text = startLine.joined(separator: " ") + "\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

extension BufferedReader {
    /// The next message head, or nil at a clean end of stream.
    public func readHTTPHead() throws -> HTTPHead? {
        guard let bytes = try readThrough(Array("\r\n\r\n".utf8), limit: HTTPHead.maximumHeadSize) else { return nil }
        return try HTTPHead.parse(bytes)
    }

    /// The body a head announces with Content-Length (empty without one), at most `limit` bytes.
    public func readHTTPBody(for head: HTTPHead, limit: Int) throws -> [UInt8] {
        if let encoding = head.header("transfer-encoding"), encoding.lowercased() != "identity" {
            throw FramingError.malformed("Transfer-Encoding \(encoding) is not supported; send Content-Length")
        }
        guard let lengthText = head.header("content-length") else { return [] }
        guard let length = Int(lengthText), length >= 0 else { throw FramingError.malformed("bad Content-Length") }
        guard length <= limit else { throw FramingError.tooLarge(limit: limit) }
        guard let body = try readExactly(length) else { throw FramingError.truncated }
        return body
    }
}
