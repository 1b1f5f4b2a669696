import GuestMemory
import VMBus

/// A buffer the guest lent through a GPADL (netvsc's receive or send buffer), addressed by byte
/// offset. Only the layout Linux uses is accepted: one range starting at byte 0 of its first page
/// (as QEMU also requires); every page was checked to be RAM when the GPADL was created.
struct GuestBuffer: Sendable {
    let gpadlHandle: UInt32
    let pages: [UInt64]
    let size: Int

    static let pageSize = 4096

    init?(_ gpadl: GPADL) {
        guard gpadl.ranges.count == 1, let range = gpadl.ranges.first, range.byteOffset == 0, range.byteCount > 0
        else { return nil }
        gpadlHandle = gpadl.handle
        pages = range.pfns
        size = min(Int(range.byteCount), range.pfns.count * Self.pageSize)
    }

    /// Whether `count` bytes at `offset` lie inside the buffer.
    func contains(offset: Int, count: Int) -> Bool {
        offset >= 0 && count >= 0 && offset <= size && count <= size - offset
    }

    /// Copies `bytes` to `offset`, page by page.
    func write(_ bytes: [UInt8], at offset: Int, memory: GuestMemory) throws(GuestMemoryError) {
        precondition(contains(offset: offset, count: bytes.count), "caller checks the bounds")
        var done = 0
        while done < bytes.count {
            let position = offset + done
            let inPage = position % Self.pageSize
            let chunk = min(bytes.count - done, Self.pageSize - inPage)
            let address = GuestPhysicalAddress(rawValue: pages[position / Self.pageSize] << 12 | UInt64(inPage))
            try memory.write(bytes[done..<(done + chunk)], at: address)
            done += chunk
        }
    }

    /// Copies `count` bytes out from `offset`.
    func read(at offset: Int, count: Int, memory: GuestMemory) throws(GuestMemoryError) -> [UInt8] {
        precondition(contains(offset: offset, count: count), "caller checks the bounds")
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let position = offset + bytes.count
            let inPage = position % Self.pageSize
            let chunk = min(count - bytes.count, Self.pageSize - inPage)
            let address = GuestPhysicalAddress(rawValue: pages[position / Self.pageSize] << 12 | UInt64(inPage))
            bytes += try memory.read(at: address, count: chunk)
        }
        return bytes
    }
}

extension GPARange {
    /// Copies the bytes a GPA-direct range describes, appending to `bytes`; refuses to grow
    /// `bytes` past `limit`.
    /// - Returns: false when the range is over the limit or names memory that is not RAM.
    func gather(into bytes: inout [UInt8], memory: GuestMemory, limit: Int) -> Bool {
        guard bytes.count + Int(byteCount) <= limit else { return false }
        var remaining = Int(byteCount)
        var inPage = Int(byteOffset)
        for pfn in pfns where remaining > 0 {
            let chunk = min(remaining, GuestBuffer.pageSize - inPage)
            guard pfn < (1 << 52) else { return false }
            do {
                bytes += try memory.read(at: GuestPhysicalAddress(rawValue: pfn << 12 | UInt64(inPage)), count: chunk)
            } catch {
                return false
            }
            remaining -= chunk
            inPage = 0
        }
        return remaining == 0
    }
}
