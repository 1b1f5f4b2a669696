import GuestMemory

/// A guest physical address descriptor list: guest pages the guest lent the host for one channel
/// (rings, receive/send buffers), by handle (protocol doc §8.4).
public struct GPADL: Sendable, Hashable {
    public let handle: UInt32
    public let relID: UInt32
    public let ranges: [GPARange]

    /// All PFNs, range after range.
    public var pageNumbers: [UInt64] { ranges.flatMap(\.pfns) }

    /// True when every range is whole pages from offset 0 (what a ring needs).
    public var isPageAligned: Bool {
        ranges.allSatisfy { $0.byteOffset == 0 && $0.byteCount % UInt32(RingBufferLayout.pageSize) == 0 }
    }
}

/// Why a GPADL was refused (sent to the guest as a failed GPADL_CREATED).
enum GPADLError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case limit(String)
    case notRAM(pfn: UInt64)
    var description: String {
        switch self {
        case .malformed(let why): "malformed GPADL: \(why)"
        case .limit(let why): "GPADL over limit: \(why)"
        case .notRAM(let pfn): "GPADL page 0x\(String(pfn, radix: 16)) is not guest RAM"
        }
    }
}

/// A GPADL whose range buffer is still arriving in GPADL_BODY messages.
struct PendingGPADL: Sendable {
    let handle: UInt32
    let relID: UInt32
    let rangeCount: Int
    let bufferLength: Int
    private(set) var bytes: [UInt8]

    /// Starts collecting from a GPADL_HEADER.
    init(header: GPADLHeader) throws(GPADLError) {
        handle = header.gpadl
        relID = header.childRelID
        rangeCount = Int(header.rangeCount)
        bufferLength = Int(header.rangeBufferLength)
        // Each range needs at least its 8-byte header and one PFN.
        guard rangeCount >= 1, bufferLength % 8 == 0, bufferLength >= 16 * rangeCount else {
            throw .malformed("range count \(rangeCount), range buffer length \(bufferLength)")
        }
        bytes = Array(header.rangeBytes.prefix(bufferLength))
    }

    /// A GPADL restored mid-assembly from saved state, checked as a header would be.
    init(handle: UInt32, relID: UInt32, rangeCount: Int, bufferLength: Int, bytes: [UInt8]) throws(GPADLError) {
        guard rangeCount >= 1, bufferLength % 8 == 0, bufferLength >= 16 * rangeCount, bufferLength <= Int(UInt16.max),
            bytes.count <= bufferLength
        else {
            throw .malformed("range count \(rangeCount), range buffer length \(bufferLength), \(bytes.count) bytes")
        }
        self.handle = handle
        self.relID = relID
        self.rangeCount = rangeCount
        self.bufferLength = bufferLength
        self.bytes = bytes
    }

    var isComplete: Bool { bytes.count == bufferLength }

    /// Appends a GPADL_BODY's bytes.
    mutating func append(_ more: [UInt8]) throws(GPADLError) {
        guard bytes.count + more.count <= bufferLength else {
            throw .malformed("bodies carry \(bytes.count + more.count) bytes, header said \(bufferLength)")
        }
        bytes += more
    }

    /// Parses the complete range buffer and checks every page against guest RAM.
    func finish(memory: GuestMemory, maxPages: Int) throws(GPADLError) -> GPADL {
        let parsed: (ranges: [GPARange], end: Int)
        do {
            parsed = try GPARange.decodeRanges(WireReader(bytes), at: 0, count: rangeCount, maxPages: maxPages)
        } catch {
            throw .malformed("\(error)")
        }
        guard parsed.end == bufferLength else {
            throw .malformed("ranges use \(parsed.end) of \(bufferLength) bytes")
        }
        for range in parsed.ranges {
            for pfn in range.pfns {
                guard pfn < (1 << 52),
                    memory.isValid(GuestPhysicalAddress(pageNumber: pfn), count: UInt64(RingBufferLayout.pageSize))
                else { throw .notRAM(pfn: pfn) }
            }
        }
        return GPADL(handle: handle, relID: relID, ranges: parsed.ranges)
    }
}
