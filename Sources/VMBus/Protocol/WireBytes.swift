/// Bounds-checked little-endian encoding and decoding for VMBus wire formats.
///
/// Guest bytes are hostile: every read checks its bounds and throws instead of trapping.

/// Why a wire structure could not be decoded.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `needed` bytes at `offset` were asked for, but only `available` remain.
    case truncated(needed: Int, at: Int, available: Int)
    /// A field holds a value the format forbids.
    case invalidField(String)

    public var description: String {
        switch self {
        case .truncated(let needed, let at, let available):
            "truncated: needed \(needed) bytes at offset \(at), \(available) available"
        case .invalidField(let what): "invalid field: \(what)"
        }
    }
}

/// A cursor-free view over bytes with bounds-checked little-endian loads at explicit offsets.
public struct WireReader: Sendable {
    /// The bytes being decoded.
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The number of bytes available.
    public var count: Int { bytes.count }

    /// Loads a little-endian integer at `offset`.
    /// - Throws: `WireError.truncated` when the value does not fit in the bytes.
    @inlinable  // specialized in the devices' per-packet paths (unspecialized: ~50 ns a field)
    public func load<T: FixedWidthInteger>(_: T.Type = T.self, at offset: Int) throws(WireError) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= bytes.count, bytes.count - offset >= size else {
            throw .truncated(needed: size, at: offset, available: Swift.max(0, bytes.count - Swift.max(0, offset)))
        }
        var value: T = 0
        for index in 0..<size {
            value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index)
        }
        return value
    }

    /// Copies `count` bytes at `offset`.
    /// - Throws: `WireError.truncated` when they do not all exist.
    public func slice(at offset: Int, count: Int) throws(WireError) -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= bytes.count, bytes.count - offset >= count else {
            throw .truncated(needed: count, at: offset, available: Swift.max(0, bytes.count - Swift.max(0, offset)))
        }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Decodes a GUID (16 bytes, Microsoft layout) at `offset`.
    public func guid(at offset: Int) throws(WireError) -> GUID {
        GUID(wireBytes: try slice(at: offset, count: 16))
    }
}

/// Builds a little-endian wire structure of fixed size; fields are stored at explicit offsets.
public struct WireWriter: Sendable {
    /// The bytes built so far.
    public private(set) var bytes: [UInt8]

    /// A zero-filled structure of `size` bytes.
    public init(size: Int) { bytes = [UInt8](repeating: 0, count: size) }

    /// Stores a little-endian integer at `offset`, growing the buffer with zeros if needed.
    public mutating func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        if bytes.count < offset + size { bytes += [UInt8](repeating: 0, count: offset + size - bytes.count) }
        for index in 0..<size {
            bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index))
        }
    }

    /// Copies `data` to `offset`, growing the buffer with zeros if needed.
    public mutating func store(bytes data: some Collection<UInt8>, at offset: Int) {
        if bytes.count < offset + data.count { bytes += [UInt8](repeating: 0, count: offset + data.count - bytes.count) }
        for (index, byte) in data.enumerated() { bytes[offset + index] = byte }
    }

    /// Stores a GUID (Microsoft layout) at `offset`.
    public mutating func store(_ guid: GUID, at offset: Int) { store(bytes: guid.wireBytes, at: offset) }
}
