/// Reads framed data from a socket with bounded buffering: each caller names the most it will
/// accept, so a hostile peer cannot make us allocate without limit.
///
/// ## Concurrency model
/// Owned by the one thread that reads the socket (not Sendable).
public final class BufferedReader {
    public let stream: any ByteStream
    private var buffer: [UInt8] = []
    private var start = 0

    public init(_ stream: any ByteStream) { self.stream = stream }

    private var available: Int { buffer.count - start }

    private func compact() {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 65536 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    /// Reads more from the socket; false at end of stream.
    private func fill() throws -> Bool {
        compact()
        let more = try stream.read()
        if more.isEmpty { return false }
        buffer.append(contentsOf: more)
        return true
    }

    /// Takes what is buffered without reading the socket (before handing the socket to raw use).
    public func takeBuffered() -> [UInt8] {
        let bytes = Array(buffer[start...])
        start = buffer.count
        return bytes
    }

    /// Exactly `count` bytes, or nil if the stream ends first.
    public func readExactly(_ count: Int) throws -> [UInt8]? {
        while available < count {
            if try !fill() { return nil }
        }
        let bytes = Array(buffer[start..<(start + count)])
        start += count
        return bytes
    }

    /// Whatever is buffered, or the next chunk from the socket; empty at end of stream.
    public func readSome() throws -> [UInt8] {
        if available == 0, try !fill() { return [] }
        let bytes = Array(buffer[start...])
        start = buffer.count
        return bytes
    }

    /// Bytes up to and including `delimiter`, at most `limit` bytes; nil at a clean end of stream.
    /// - Throws: `FramingError.tooLarge` past the limit, `.truncated` when the stream ends mid-way.
    public func readThrough(_ delimiter: [UInt8], limit: Int) throws -> [UInt8]? {
        // How many bytes after `start` are known not to begin the delimiter (relative, because
        // `fill()` may compact the buffer and move `start`).
        var scanned = 0
        while true {
            if available >= delimiter.count {
                let lastStart = buffer.count - delimiter.count
                var i = start + scanned
                while i <= lastStart {
                    if buffer[i] == delimiter[0] && buffer[i..<(i + delimiter.count)].elementsEqual(delimiter) {
                        let end = i + delimiter.count
                        let bytes = Array(buffer[start..<end])
                        start = end
                        return bytes
                    }
                    i += 1
                }
                scanned = lastStart + 1 - start
            }
            if available > limit { throw FramingError.tooLarge(limit: limit) }
            if try !fill() {
                if available == 0 { return nil }
                throw FramingError.truncated
            }
        }
    }
}

/// Malformed or oversized framed input.
public enum FramingError: Error, Equatable, CustomStringConvertible, Sendable {
    case tooLarge(limit: Int)
    case truncated
    case malformed(String)
    case unsupportedVersion(UInt32)

    public var description: String {
        switch self {
        case .tooLarge(let limit): "message larger than \(limit) bytes"
        case .truncated: "the stream ended inside a message"
        case .malformed(let what): "malformed message: \(what)"
        case .unsupportedVersion(let v): "unsupported protocol version \(v)"
        }
    }
}
