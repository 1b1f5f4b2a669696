import GuestMemory
import VMBus

/// The data buffer of one GPA-direct request: the ranges' bytes, concatenated, in guest RAM.
///
/// Every page is checked to be guest RAM when the buffer is built, and every access is checked
/// again by `GuestMemory`; a hostile guest's ranges end in `DataBufferError`, never in a host
/// access outside guest RAM.
struct GuestDataBuffer: SCSIDataBuffer {
    let memory: GuestMemory
    let ranges: [GPARange]
    /// Bytes of the buffer: the ranges' total, cut to what the request said it moves.
    let count: Int

    /// - Parameters:
    ///   - limit: the most bytes a request may move (`max_transfer_bytes`).
    ///   - length: the request's `data_transfer_length`; the buffer is no longer than it.
    /// - Throws: `DataBufferError.tooLarge` over `limit`, `.notGuestRAM` for a page outside RAM.
    init(memory: GuestMemory, ranges: [GPARange], length: UInt32, limit: Int) throws(DataBufferError) {
        var total = 0
        for range in ranges {
            total += Int(range.byteCount)
            guard total <= limit else { throw .tooLarge(total) }
            for pfn in range.pfns {
                guard pfn < (1 << 52), memory.isValid(GuestPhysicalAddress(pageNumber: pfn), count: 4096) else {
                    throw .notGuestRAM(pfn: pfn)
                }
            }
        }
        self.memory = memory
        self.ranges = ranges
        count = min(total, Int(length))
    }

    /// Calls `body` with (guest address, bytes, buffer offset) for each page-bounded piece of
    /// `[offset, offset + length)`.
    private func forEachPiece(
        offset: Int, length: Int, _ body: (GuestPhysicalAddress, Int, Int) throws -> Void
    ) throws {
        guard offset >= 0, length >= 0, offset <= count, count - offset >= length else { throw DataBufferError.outOfBounds }
        var remaining = length
        var position = offset
        var rangeStart = 0
        for range in ranges where remaining > 0 {
            let rangeEnd = rangeStart + Int(range.byteCount)
            defer { rangeStart = rangeEnd }
            guard position < rangeEnd else { continue }
            while remaining > 0, position < rangeEnd {
                let inRange = Int(range.byteOffset) + (position - rangeStart)
                let pageIndex = inRange / 4096
                let inPage = inRange % 4096
                guard pageIndex < range.pfns.count else { throw DataBufferError.outOfBounds }
                let piece = min(remaining, 4096 - inPage, rangeEnd - position)
                let address = GuestPhysicalAddress(pageNumber: range.pfns[pageIndex]).advanced(by: UInt64(inPage))
                guard let address else { throw DataBufferError.outOfBounds }
                try body(address, piece, position - offset)
                position += piece
                remaining -= piece
            }
        }
        guard remaining == 0 else { throw DataBufferError.outOfBounds }
    }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        try forEachPiece(offset: offset, length: count) { address, length, _ in
            out += try memory.read(at: address, count: length)
        }
        return out
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        try forEachPiece(offset: offset, length: bytes.count) { address, length, start in
            try memory.write(bytes[start..<(start + length)], at: address)
        }
    }
}
