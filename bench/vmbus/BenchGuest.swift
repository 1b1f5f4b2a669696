import Dispatch
import GuestMemory
import HyperV

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

// The guest side of the bench, written from the protocol doc §8 and Linux drivers/hv like
// Tests/VMBusTestSupport/GuestDriver.swift, but lean: ring data is copied in bulk (one or two
// `GuestMemory` copies per packet, as Linux's memcpy into its double-mapped ring), so the bench
// measures the host, not a byte-at-a-time test driver.

enum Msg {
    static let offerChannel: UInt32 = 1, requestOffers: UInt32 = 3, allOffersDelivered: UInt32 = 4
    static let openChannel: UInt32 = 5, openResult: UInt32 = 6, gpadlHeader: UInt32 = 8, gpadlBody: UInt32 = 9
    static let gpadlCreated: UInt32 = 10, gpadlTeardown: UInt32 = 11, gpadlTorndown: UInt32 = 12
    static let initiateContact: UInt32 = 14, versionResponse: UInt32 = 15, unload: UInt32 = 16
    static let unloadResponse: UInt32 = 17, modifyChannel: UInt32 = 22, modifyResponse: UInt32 = 24
}

struct Offer {
    let relid: UInt32
    let connectionID: UInt32
}

final class BenchGuest {
    let memory: GuestMemory
    let host: any HypercallMessageHandler
    let synic: BenchSynIC
    var messageConnectionID: UInt32 = 4
    private var nextFreePage: UInt64 = 0x100  // 1 MiB
    private var nextGPADL: UInt32 = 0xE1E10
    /// Guest → host messages posted so far.
    private(set) var posted = 0

    init(host: any HypercallMessageHandler, synic: BenchSynIC, memory: GuestMemory) {
        self.host = host
        self.synic = synic
        self.memory = memory
    }

    /// Contiguous guest pages (page numbers).
    func allocatePages(_ count: Int) throws -> [UInt64] {
        let pages = (0..<UInt64(count)).map { nextFreePage + $0 }
        nextFreePage += UInt64(count)
        guard nextFreePage <= memory.totalSize / 4096 else { throw BenchError("bench guest out of memory") }
        return pages
    }

    func allocateGPADLHandle() -> UInt32 {
        defer { nextGPADL += 1 }
        return nextGPADL
    }

    func post(_ bytes: [UInt8], connectionID: UInt32? = nil) {
        posted += 1
        _ = host.postMessage(connectionID: connectionID ?? messageConnectionID, messageType: 1, payload: bytes, vp: 0)
    }

    /// The first reply of `type` since the last call.
    func reply(_ type: UInt32, where match: (Bytes) -> Bool = { _ in true }) -> Bytes? {
        synic.takeMessages().lazy.map(Bytes.init).first { $0.u32(0) == type && match($0) }
    }

    // MARK: connection

    /// INITIATE_CONTACT for a 5.x version (message SINT 2, connection id 4); true when accepted.
    func initiateContact(version: UInt32 = 5 << 16 | 3) -> Bool {
        var m = Bytes(count: 40)
        m.put(Msg.initiateContact, at: 0)
        m.put(version, at: 8)
        m.put(UInt32(0), at: 12)  // target vCPU
        m.put(UInt8(2), at: 16)  // msg_sint
        m.put(UInt64(0x7100_0000), at: 24)
        m.put(UInt64(0x7200_0000), at: 32)
        post(m.data, connectionID: 4)
        guard let r = reply(Msg.versionResponse), r.u8(8) != 0 else { return false }
        messageConnectionID = r.u32(12)
        return true
    }

    func unload() -> Bool {
        var m = Bytes(count: 8)
        m.put(Msg.unload, at: 0)
        post(m.data)
        return reply(Msg.unloadResponse) != nil
    }

    func requestOffers() -> (offers: [Offer], allDelivered: Bool) {
        var m = Bytes(count: 8)
        m.put(Msg.requestOffers, at: 0)
        post(m.data)
        var offers: [Offer] = []
        var done = false
        for r in synic.takeMessages().map(Bytes.init) {
            if r.u32(0) == Msg.offerChannel, r.data.count >= 196 { offers.append(Offer(relid: r.u32(184), connectionID: r.u32(192))) }
            if r.u32(0) == Msg.allOffersDelivered { done = true }
        }
        return (offers, done)
    }

    // MARK: GPADL (vmbus_establish_gpadl: 26 PFNs in the header, 28 per body)

    /// The GPADL_CREATED status, or nil when none came.
    func createGPADL(relid: UInt32, pages: [UInt64], handle: UInt32) -> UInt32? {
        let headerPFNs = min(pages.count, 26)
        var h = Bytes(count: 28 + 8 * headerPFNs)
        h.put(Msg.gpadlHeader, at: 0)
        h.put(relid, at: 8)
        h.put(handle, at: 12)
        h.put(UInt16(8 + 8 * pages.count), at: 16)  // range_buflen
        h.put(UInt16(1), at: 18)  // rangecount
        h.put(UInt32(pages.count * 4096), at: 20)  // byte_count
        for i in 0..<headerPFNs { h.put(pages[i], at: 28 + 8 * i) }
        post(h.data)
        var sent = headerPFNs
        while sent < pages.count {
            let n = min(28, pages.count - sent)
            var b = Bytes(count: 16 + 8 * n)
            b.put(Msg.gpadlBody, at: 0)
            b.put(handle, at: 12)
            for i in 0..<n { b.put(pages[sent + i], at: 16 + 8 * i) }
            post(b.data)
            sent += n
        }
        return reply(Msg.gpadlCreated) { $0.u32(12) == handle }.map { $0.u32(16) }
    }

    func teardownGPADL(relid: UInt32, handle: UInt32) -> Bool {
        var m = Bytes(count: 16)
        m.put(Msg.gpadlTeardown, at: 0)
        m.put(relid, at: 8)
        m.put(handle, at: 12)
        post(m.data)
        return reply(Msg.gpadlTorndown) { $0.u32(8) == handle } != nil
    }

    func modify(relid: UInt32, targetVP: UInt32) -> UInt32? {
        var m = Bytes(count: 16)
        m.put(Msg.modifyChannel, at: 0)
        m.put(relid, at: 8)
        m.put(targetVP, at: 12)
        post(m.data)
        return reply(Msg.modifyResponse) { $0.u32(8) == relid }.map { $0.u32(12) }
    }

    // MARK: channels (__vmbus_open)

    /// Opens `offer` with rings of `ringDataPages` data pages each way (plus a header page).
    func open(_ offer: Offer, ringDataPages: Int) throws -> (outbound: BenchRing, inbound: BenchRing) {
        let perRing = ringDataPages + 1
        let pages = try allocatePages(2 * perRing)
        for p in pages { try memory.fill(at: GuestPhysicalAddress(pageNumber: p), count: 4096) }
        for header in [pages[0], pages[perRing]] {
            // feature_bits: pending_send_sz supported.
            try memory.store(UInt32(1), at: GuestPhysicalAddress(pageNumber: header + 0).advanced(by: 64) ?? .init(0))
        }
        let handle = allocateGPADLHandle()
        guard createGPADL(relid: offer.relid, pages: pages, handle: handle) == 0 else {
            throw BenchError("ring GPADL refused")
        }
        var m = Bytes(count: 148)
        m.put(Msg.openChannel, at: 0)
        m.put(offer.relid, at: 8)
        m.put(offer.relid, at: 12)
        m.put(handle, at: 16)
        m.put(UInt32(0), at: 20)
        m.put(UInt32(perRing), at: 24)  // downstream ring offset, in pages
        post(m.data)
        guard let r = reply(Msg.openResult, where: { $0.u32(8) == offer.relid }), r.u32(16) == 0 else {
            throw BenchError("OPENCHANNEL refused")
        }
        return (
            BenchRing(memory: memory, headerPage: pages[0], dataPages: ringDataPages),
            BenchRing(memory: memory, headerPage: pages[perRing], dataPages: ringDataPages)
        )
    }
}

/// One ring as the guest sees it: header page then contiguous data pages.
struct BenchRing {
    let memory: GuestMemory
    let header: GuestPhysicalAddress
    let data: GuestPhysicalAddress
    let dataSize: Int

    init(memory: GuestMemory, headerPage: UInt64, dataPages: Int) {
        self.memory = memory
        header = GuestPhysicalAddress(pageNumber: headerPage)
        data = GuestPhysicalAddress(pageNumber: headerPage + 1)
        dataSize = dataPages * 4096
    }

    private func field(_ offset: UInt64) -> UInt32 {
        (try? memory.atomicLoad32(at: GuestPhysicalAddress(header.rawValue + offset))) ?? 0
    }
    private func setField(_ offset: UInt64, _ value: UInt32) {
        try? memory.atomicStore32(value, at: GuestPhysicalAddress(header.rawValue + offset))
    }
    var writeIndex: Int { Int(field(0)) }
    var readIndex: Int { Int(field(4)) }
    func setWriteIndex(_ v: Int) { setField(0, UInt32(v)) }
    func setReadIndex(_ v: Int) { setField(4, UInt32(v)) }
    var interruptMask: UInt32 { field(8) }
    var pendingSendSize: Int { Int(field(12)) }
    func setPendingSendSize(_ v: Int) { setField(12, UInt32(v)) }

    func bytesToWrite() -> Int {
        let r = readIndex, w = writeIndex
        return w >= r ? dataSize - (w - r) : r - w
    }

    /// Copies `bytes` in at data offset `offset`, wrapping at the end. This is the guest CPU's
    /// own store into its RAM, so it is a plain `memcpy` through the host mapping (what guest code
    /// does), not `GuestMemory.write`: the bench times the host's side, not the guest's.
    func copyIn(_ bytes: [UInt8], at offset: Int) throws {
        let first = min(bytes.count, dataSize - offset)
        // One mapping holds the whole data area (contiguous pages of one heap region).
        guard let base = hostPointer(data), memory.hostMappings.count == 1, memory.isValid(data, count: UInt64(dataSize))
        else { throw BenchError("ring outside guest RAM") }
        bytes.withUnsafeBytes { src in
            guard let s = src.baseAddress else { return }
            memcpy(base + offset, s, first)
            if first < bytes.count { memcpy(base, s + first, bytes.count - first) }
        }
    }

    /// The host address of guest physical `address` (heap-backed RAM is one region).
    private func hostPointer(_ address: GuestPhysicalAddress) -> UnsafeMutableRawPointer? {
        for m in memory.hostMappings where m.range.contains(address) {
            return UnsafeMutableRawPointer(bitPattern: UInt(m.hostAddress + (address.rawValue - m.range.start.rawValue)))
        }
        return nil
    }

    /// Copies `count` bytes out from data offset `offset`, wrapping at the end.
    func copyOut(_ count: Int, at offset: Int) throws -> [UInt8] {
        let first = min(count, dataSize - offset)
        var out = try memory.read(at: GuestPhysicalAddress(data.rawValue + UInt64(offset)), count: first)
        if first < count { out += try memory.read(at: data, count: count - first) }
        return out
    }
}
