import GuestMemory

/// Why a ring operation was refused.
public enum RingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not enough free space for the packet (the ring is never filled completely).
    case full(needed: Int, available: Int)
    /// A guest-owned index or a packet header is out of range: the ring cannot be trusted.
    case corrupt(String)
    /// The packet exceeds the size limit.
    case packetTooLarge(Int)
    /// A ring page is not guest RAM.
    case memory(GuestMemoryError)

    public var description: String {
        switch self {
        case .full(let needed, let available): "ring full: need \(needed), \(available) free"
        case .corrupt(let why): "ring corrupt: \(why)"
        case .packetTooLarge(let size): "packet of \(size) bytes too large"
        case .memory(let error): "ring memory: \(error)"
        }
    }
}

/// One direction of a channel's ring in guest memory: a header page and data pages, which need
/// not be physically contiguous (they come from a GPADL's page list).
///
/// Indices are byte offsets into the data area. Shared header fields are read and written with
/// atomics; data bytes are copied, never referenced.
struct GuestRing: Sendable {
    let memory: GuestMemory
    let headerPage: GuestPhysicalAddress
    let dataPages: [GuestPhysicalAddress]

    /// Bytes in the data area.
    var dataSize: UInt32 { UInt32(dataPages.count * RingBufferLayout.pageSize) }

    init(memory: GuestMemory, pages: ArraySlice<UInt64>) {
        self.memory = memory
        headerPage = GuestPhysicalAddress(pageNumber: pages.first ?? 0)
        dataPages = pages.dropFirst().map { GuestPhysicalAddress(pageNumber: $0) }
    }

    private func field(_ offset: UInt64) -> GuestPhysicalAddress {
        GuestPhysicalAddress(rawValue: headerPage.rawValue + offset)
    }

    func load(_ offset: UInt64) throws(RingError) -> UInt32 {
        do { return try memory.atomicLoad32(at: field(offset)) } catch { throw .memory(error) }
    }

    func store(_ value: UInt32, _ offset: UInt64) throws(RingError) {
        do { try memory.atomicStore32(value, at: field(offset)) } catch { throw .memory(error) }
    }

    /// Checks a guest-supplied index: inside the data area and 8-byte aligned.
    func validIndex(_ index: UInt32) -> Bool { index < dataSize && index % 8 == 0 }

    /// Copies `count` bytes starting at data offset `start`, wrapping at the end of the data area.
    func copyOut(from start: UInt32, count: Int) throws(RingError) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var offset = Int(start)
        let size = Int(dataSize)
        while result.count < count {
            offset %= size
            let page = offset / RingBufferLayout.pageSize
            let inPage = offset % RingBufferLayout.pageSize
            let chunk = min(count - result.count, RingBufferLayout.pageSize - inPage)
            let address = GuestPhysicalAddress(rawValue: dataPages[page].rawValue + UInt64(inPage))
            do { result += try memory.read(at: address, count: chunk) } catch { throw .memory(error) }
            offset += chunk
        }
        return result
    }

    /// Copies `bytes` to data offset `start`, wrapping at the end of the data area.
    func copyIn(_ bytes: [UInt8], at start: UInt32) throws(RingError) {
        var written = 0
        var offset = Int(start)
        let size = Int(dataSize)
        while written < bytes.count {
            offset %= size
            let page = offset / RingBufferLayout.pageSize
            let inPage = offset % RingBufferLayout.pageSize
            let chunk = min(bytes.count - written, RingBufferLayout.pageSize - inPage)
            let address = GuestPhysicalAddress(rawValue: dataPages[page].rawValue + UInt64(inPage))
            do { try memory.write(bytes[written..<(written + chunk)], at: address) } catch { throw .memory(error) }
            offset += chunk
            written += chunk
        }
    }
}
