/// The control channel's framing: a 4-byte big-endian payload length, then the payload (JSON).
/// Versioning lives in the payload (`ControlEnvelope.version` in Configuration).
public enum Frame {
    /// The largest payload either side accepts (a console chunk is far smaller).
    public static let maximumPayload = 1 << 20

    /// The bytes of one frame.
    public static func encode(_ payload: [UInt8]) throws -> [UInt8] {
        guard payload.count <= maximumPayload else { throw FramingError.tooLarge(limit: maximumPayload) }
        let n = UInt32(payload.count)
        return [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)] + payload
    }

    /// Decodes a length header; throws past the limit.
    public static func payloadLength(_ header: [UInt8]) throws -> Int {
        guard header.count == 4 else { throw FramingError.truncated }
        let n = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard n <= maximumPayload else { throw FramingError.tooLarge(limit: maximumPayload) }
        return n
    }
}

extension BufferedReader {
    /// The next frame's payload, or nil at a clean end of stream.
    public func readFrame() throws -> [UInt8]? {
        guard let header = try readExactly(4) else { return nil }
        let length = try Frame.payloadLength(header)
        guard let payload = try readExactly(length) else { throw FramingError.truncated }
        return payload
    }
}

extension UnixSocket {
    /// Sends one frame.
    public func writeFrame(_ payload: [UInt8]) throws { try write(Frame.encode(payload)) }
}
