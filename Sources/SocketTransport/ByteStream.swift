/// A connected byte stream: a Unix or TCP socket, or TLS over one. The HTTP server, the client
/// and `BufferedReader` work on this, so one code path serves every transport.
///
/// ## Concurrency model
/// Implementations allow one reader and one writer at a time, from different threads (the
/// console relays in both directions at once); `shutdown()` may come from any thread and wakes
/// a blocked reader.
public protocol ByteStream: AnyObject, Sendable {
    /// Reads up to `maximum` bytes; an empty array means end of stream.
    func read(maximum: Int) throws -> [UInt8]
    /// Writes every byte.
    func write(_ bytes: [UInt8]) throws
    /// Ends both directions.
    func shutdown()
    /// Sets a receive timeout (0: none) so a silent peer cannot hold a thread forever.
    func setReceiveTimeout(seconds: Int)
}

extension ByteStream {
    /// Reads up to 64 KiB.
    public func read() throws -> [UInt8] { try read(maximum: 65536) }
}

extension UnixSocket: ByteStream {}
