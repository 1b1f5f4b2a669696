/// Why an LZ4 stream was rejected.
public enum LZ4Error: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stream does not start with the legacy magic 0x184C2102.
    case badMagic
    /// The stream ends inside a block header or block.
    case truncated(offset: Int)
    /// A block's compressed length exceeds the format's bound.
    case blockTooLarge(length: UInt32)
    /// A block is malformed (bad offset, overrun, literal or match outside the block).
    case corruptBlock(offset: Int, reason: String)
    /// Decompressing would exceed the caller's output cap.
    case outputLimitExceeded(limit: Int)

    public var description: String {
        switch self {
        case .badMagic: "LZ4: missing legacy frame magic 0x184C2102"
        case .truncated(let o): "LZ4: stream truncated at offset \(o)"
        case .blockTooLarge(let n): "LZ4: block of \(n) bytes exceeds the legacy format's bound"
        case .corruptBlock(let o, let r): "LZ4: corrupt block at offset \(o): \(r)"
        case .outputLimitExceeded(let l): "LZ4: output exceeds the limit of \(l) bytes"
        }
    }
}

/// A decoder for the LZ4 *legacy* frame format, the one Linux's `CONFIG_KERNEL_LZ4` payloads use
/// (`lz4 -l`): the magic 0x184C2102, then blocks, each a 4-byte little-endian compressed length
/// and an independent LZ4 block that decompresses to at most 8 MiB. A new magic may start a
/// further frame. The kernel build appends the uncompressed size as 4 trailing bytes
/// (`lz4_with_size`); four bytes left at the end are reported as that trailer.
///
/// Every read and every back-reference is bounds-checked and the output is capped, so hostile
/// input fails with an `LZ4Error` and never traps or allocates without bound.
public enum LZ4Legacy {
    public static let magic: UInt32 = 0x184C_2102
    /// Uncompressed size of a legacy block.
    public static let blockSize = 8 << 20
    /// LZ4_compressBound(8 MiB): the largest compressed block the format allows.
    public static let maxCompressedBlock = blockSize + blockSize / 255 + 16

    /// The decompressed bytes and the size trailer, when four bytes followed the last block.
    public struct Result: Sendable, Equatable {
        public var output: [UInt8]
        public var trailer: UInt32?
    }

    /// Decodes a legacy-frame stream.
    /// - Parameters:
    ///   - input: the whole stream, starting with the magic.
    ///   - outputLimit: the most bytes the caller accepts.
    public static func decode(_ input: [UInt8], outputLimit: Int) throws(LZ4Error) -> Result {
        let r = ByteReader(input)
        guard r.u32(0) == magic else { throw .badMagic }
        var pos = 4
        var output: [UInt8] = []
        output.reserveCapacity(min(outputLimit, input.count * 3))
        var trailer: UInt32?
        while pos < input.count {
            guard let length = r.u32(pos) else { throw .truncated(offset: pos) }
            pos += 4
            if length == magic { continue }  // a concatenated frame
            if pos == input.count {
                trailer = length  // lz4_with_size's appended uncompressed size
                break
            }
            guard Int(length) <= maxCompressedBlock else { throw .blockTooLarge(length: length) }
            guard length > 0 else { throw .corruptBlock(offset: pos, reason: "empty block") }
            guard r.contains(offset: pos, length: Int(length)) else { throw .truncated(offset: pos) }
            let blockLimit = min(blockSize, outputLimit - output.count)
            try decodeBlock(input, from: pos, to: pos + Int(length), into: &output, limit: blockLimit, outputLimit: outputLimit)
            pos += Int(length)
        }
        return Result(output: output, trailer: trailer)
    }

    /// Decodes one independent LZ4 block, `input[start..<end]`, appending at most `limit` bytes.
    static func decodeBlock(
        _ input: [UInt8], from start: Int, to end: Int, into output: inout [UInt8], limit: Int, outputLimit: Int
    ) throws(LZ4Error) {
        let blockStart = output.count
        var ip = start
        while true {
            guard ip < end else { throw .corruptBlock(offset: ip, reason: "block ends before its last literals") }
            let token = input[ip]
            ip += 1
            // Literals.
            var literalLength = Int(token >> 4)
            if literalLength == 15 { literalLength += try extendedLength(input, &ip, end) }
            guard end - ip >= literalLength else {
                throw .corruptBlock(offset: ip, reason: "literals run past the block")
            }
            guard output.count - blockStart + literalLength <= limit else {
                throw .outputLimitExceeded(limit: outputLimit)
            }
            output.append(contentsOf: input[ip..<(ip + literalLength)])
            ip += literalLength
            if ip == end { return }  // the last sequence has literals only
            // Match.
            guard end - ip >= 2 else { throw .corruptBlock(offset: ip, reason: "match offset truncated") }
            let offset = Int(input[ip]) | Int(input[ip + 1]) << 8
            ip += 2
            guard offset > 0, offset <= output.count - blockStart else {
                throw .corruptBlock(offset: ip - 2, reason: "match offset \(offset) before the start of the block")
            }
            var matchLength = Int(token & 0x0F)
            if matchLength == 15 { matchLength += try extendedLength(input, &ip, end) }
            matchLength += 4
            guard output.count - blockStart + matchLength <= limit else {
                throw .outputLimitExceeded(limit: outputLimit)
            }
            // Copy out first: appending a slice of `output` to itself would copy the whole
            // buffer (copy-on-write) on every match.
            let from = output.count - offset
            var pattern = Array(output[from..<(from + min(offset, matchLength))])
            // An overlapping match (offset < length) repeats the last `offset` bytes.
            while pattern.count < matchLength { pattern += pattern }
            output.append(contentsOf: pattern[0..<matchLength])
        }
    }

    /// Reads the 255-continued length extension. Bounded by the block end, so it terminates.
    private static func extendedLength(_ input: [UInt8], _ ip: inout Int, _ end: Int) throws(LZ4Error) -> Int {
        var total = 0
        while true {
            guard ip < end else { throw .corruptBlock(offset: ip, reason: "length extension runs past the block") }
            let b = input[ip]
            ip += 1
            total += Int(b)
            if b != 255 { return total }
        }
    }
}
