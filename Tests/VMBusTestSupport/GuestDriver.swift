import GuestMemory
import HyperV

// A guest-side VMBus driver for tests, written from the protocol doc §8 and Linux
// drivers/hv (channel_mgmt.c, connection.c, channel.c, ring_buffer.c) — not from the host code.
// It talks to the host only through HypercallMessageHandler (HvPostMessage/HvSignalEvent) and
// sees the host only through FakeSynIC and guest memory.
// One copy, shared by every test target that drives a VMBus host (VMBusTests, SyntheticDevicesTests).

public enum Msg {
    public static let offerChannel: UInt32 = 1, rescind: UInt32 = 2, requestOffers: UInt32 = 3, allOffersDelivered: UInt32 = 4
    public static let openChannel: UInt32 = 5, openResult: UInt32 = 6, closeChannel: UInt32 = 7, gpadlHeader: UInt32 = 8
    public static let gpadlBody: UInt32 = 9, gpadlCreated: UInt32 = 10, gpadlTeardown: UInt32 = 11, gpadlTorndown: UInt32 = 12
    public static let relidReleased: UInt32 = 13, initiateContact: UInt32 = 14, versionResponse: UInt32 = 15
    public static let unload: UInt32 = 16, unloadResponse: UInt32 = 17, tlConnect: UInt32 = 21, modifyChannel: UInt32 = 22
    public static let modifyResponse: UInt32 = 24
}

public struct GuestOffer {
    public let ifType: [UInt8]
    public let ifInstance: [UInt8]
    public let relid: UInt32
    public let connectionID: UInt32
    public let dedicatedInterrupt: Bool
    public let monitorAllocated: Bool

    public init(_ b: Bytes) {
        ifType = Array(b.data[8..<24])
        ifInstance = Array(b.data[24..<40])
        relid = b.u32(184)
        monitorAllocated = b.u8(189) & 1 != 0
        dedicatedInterrupt = b.u16(190) & 1 != 0
        connectionID = b.u32(192)
    }
}

public final class GuestDriver {
    public let memory: GuestMemory
    public let host: any HypercallMessageHandler
    public let synic: FakeSynIC
    public var messageConnectionID: UInt32 = 1
    public var nextFreePage: UInt64 = 0x100  // 1 MiB
    public var nextGPADL: UInt32 = 0xE1E10
    public let pageLimit: UInt64

    public init(host: any HypercallMessageHandler, synic: FakeSynIC, memory: GuestMemory) {
        self.host = host
        self.synic = synic
        self.memory = memory
        pageLimit = memory.totalSize / 4096
    }

    /// Pages in a scattered order (the host must follow the page list, not assume contiguity).
    public func allocatePages(_ count: Int) -> [UInt64] {
        let pages = (0..<UInt64(count)).map { nextFreePage + $0 }
        nextFreePage += UInt64(count)
        precondition(nextFreePage < pageLimit, "test guest out of memory")
        // Swap neighbours pairwise: non-contiguous but deterministic.
        var scattered = pages
        var i = 0
        while i + 1 < scattered.count {
            scattered.swapAt(i, i + 1)
            i += 2
        }
        return scattered
    }

    public func allocateGPADLHandle() -> UInt32 {
        defer { nextGPADL += 1 }
        return nextGPADL
    }

    @discardableResult
    public func post(_ bytes: [UInt8], connectionID: UInt32? = nil) -> HvStatus {
        host.postMessage(connectionID: connectionID ?? messageConnectionID, messageType: 1, payload: bytes, vp: 0)
    }

    /// The host's replies since the last call, as channel-message bytes.
    public func replies() -> [Bytes] { synic.takeMessages().map { Bytes($0.payload) } }

    // MARK: connection (vmbus_negotiate_version)

    /// Sends INITIATE_CONTACT the way Linux 6.1 does for `version`.
    /// - Returns: (version_supported, msg_conn_id) from VERSION_RESPONSE, or nil if none came.
    public func initiateContact(version: UInt32, targetVCPU: UInt32 = 0) -> (supported: Bool, connID: UInt32)? {
        var m = Bytes(count: 40)
        m.put(Msg.initiateContact, at: 0)
        m.put(version, at: 8)
        m.put(targetVCPU, at: 12)
        let connID: UInt32
        if version >= (5 << 16) {
            m.put(UInt8(2), at: 16)  // msg_sint = VMBUS_MESSAGE_SINT
            connID = 4
        } else {
            m.put(UInt64(0x7000_0000), at: 16)  // interrupt page (unused by the host)
            connID = 1
        }
        m.put(UInt64(0x7100_0000), at: 24)
        m.put(UInt64(0x7200_0000), at: 32)
        let status = post(m.data, connectionID: connID)
        guard status == .success else { return nil }
        guard let reply = replies().first(where: { $0.u32(0) == Msg.versionResponse }) else { return nil }
        let supported = reply.u8(8) != 0
        if supported { messageConnectionID = reply.u32(12) }
        return (supported, reply.u32(12))
    }

    /// Linux's version loop: 5.3, 5.2, 5.1, 5.0, 4.1, 4.0, 3.0, 2.4.
    public func negotiate() -> UInt32? {
        let versions: [UInt32] = [5 << 16 | 3, 5 << 16 | 2, 5 << 16 | 1, 5 << 16, 4 << 16 | 1, 4 << 16, 3 << 16, 2 << 16 | 4]
        for v in versions {
            if let r = initiateContact(version: v), r.supported { return v }
        }
        return nil
    }

    /// REQUESTOFFERS, then collects offers up to ALLOFFERS_DELIVERED.
    public func requestOffers() -> (offers: [GuestOffer], allDelivered: Bool) {
        var m = Bytes(count: 8)
        m.put(Msg.requestOffers, at: 0)
        post(m.data)
        var offers: [GuestOffer] = []
        var done = false
        for r in replies() {
            if r.u32(0) == Msg.offerChannel, r.data.count >= 196 { offers.append(GuestOffer(r)) }
            if r.u32(0) == Msg.allOffersDelivered { done = true }
        }
        return (offers, done)
    }

    // MARK: GPADL (vmbus_establish_gpadl: one range, 26 PFNs in the header, 28 per body)

    /// Returns the GPADL_CREATED status, or nil when no answer came.
    public func createGPADL(relid: UInt32, pages: [UInt64], handle: UInt32? = nil) -> (handle: UInt32, status: UInt32?) {
        let handle = handle ?? allocateGPADLHandle()
        let headerPFNs = min(pages.count, 26)
        var h = Bytes(count: 20 + 8 + 8 * headerPFNs)
        h.put(Msg.gpadlHeader, at: 0)
        h.put(relid, at: 8)
        h.put(handle, at: 12)
        h.put(UInt16(8 + 8 * pages.count), at: 16)  // range_buflen
        h.put(UInt16(1), at: 18)  // rangecount
        h.put(UInt32(pages.count * 4096), at: 20)  // byte_count
        h.put(UInt32(0), at: 24)  // byte_offset
        for i in 0..<headerPFNs { h.put(pages[i], at: 28 + 8 * i) }
        post(h.data)
        var sent = headerPFNs
        while sent < pages.count {
            let n = min(28, pages.count - sent)
            var b = Bytes(count: 16 + 8 * n)
            b.put(Msg.gpadlBody, at: 0)
            b.put(UInt32(0), at: 8)  // msgnumber: always 0 in Linux
            b.put(handle, at: 12)
            for i in 0..<n { b.put(pages[sent + i], at: 16 + 8 * i) }
            post(b.data)
            sent += n
        }
        let created = replies().first { $0.u32(0) == Msg.gpadlCreated && $0.u32(12) == handle }
        return (handle, created.map { $0.u32(16) })
    }

    /// GPADL_TEARDOWN; true when GPADL_TORNDOWN came back.
    public func teardownGPADL(relid: UInt32, handle: UInt32) -> Bool {
        var m = Bytes(count: 16)
        m.put(Msg.gpadlTeardown, at: 0)
        m.put(relid, at: 8)
        m.put(handle, at: 12)
        post(m.data)
        return replies().contains { $0.u32(0) == Msg.gpadlTorndown && $0.u32(8) == handle }
    }

    // MARK: channels (__vmbus_open)

    /// Allocates send and receive rings, zeroes them, sets feature bits, makes the GPADL and opens.
    /// - Returns: the channel, or nil with the OPENCHANNEL_RESULT status.
    public func open(offer: GuestOffer, sendPages: Int = 4, receivePages: Int = 4, targetVP: UInt32 = 0) -> (GuestChannel?, UInt32?) {
        let pages = allocatePages(sendPages + receivePages)
        for p in pages { try? memory.fill(at: GuestPhysicalAddress(pageNumber: p), count: 4096) }
        for header in [pages[0], pages[sendPages]] {
            try? memory.store(UInt32(1), at: GuestPhysicalAddress(pageNumber: header).advanced(by: 64)!)
        }
        let (handle, status) = createGPADL(relid: offer.relid, pages: pages)
        guard status == 0 else { return (nil, status) }
        var m = Bytes(count: 148)
        m.put(Msg.openChannel, at: 0)
        m.put(offer.relid, at: 8)
        m.put(offer.relid, at: 12)  // openid
        m.put(handle, at: 16)
        m.put(targetVP, at: 20)
        m.put(UInt32(sendPages), at: 24)
        post(m.data)
        guard let result = replies().first(where: { $0.u32(0) == Msg.openResult && $0.u32(8) == offer.relid }) else {
            return (nil, nil)
        }
        guard result.u32(16) == 0 else { return (nil, result.u32(16)) }
        let channel = GuestChannel(
            driver: self, relid: offer.relid, connectionID: offer.connectionID, gpadl: handle,
            outbound: GuestRingView(memory: memory, pages: Array(pages[0..<sendPages])),
            inbound: GuestRingView(memory: memory, pages: Array(pages[sendPages...])))
        return (channel, 0)
    }

    public func close(relid: UInt32) {
        var m = Bytes(count: 12)
        m.put(Msg.closeChannel, at: 0)
        m.put(relid, at: 8)
        post(m.data)
    }

    public func relidReleased(_ relid: UInt32) {
        var m = Bytes(count: 12)
        m.put(Msg.relidReleased, at: 0)
        m.put(relid, at: 8)
        post(m.data)
    }

    /// UNLOAD; true when UNLOAD_RESPONSE came back.
    public func unload() -> Bool {
        var m = Bytes(count: 8)
        m.put(Msg.unload, at: 0)
        post(m.data)
        return replies().contains { $0.u32(0) == Msg.unloadResponse }
    }

    /// MODIFYCHANNEL; the MODIFYCHANNEL_RESPONSE status if one came.
    public func modify(relid: UInt32, targetVP: UInt32) -> UInt32? {
        var m = Bytes(count: 16)
        m.put(Msg.modifyChannel, at: 0)
        m.put(relid, at: 8)
        m.put(targetVP, at: 12)
        post(m.data)
        return replies().first { $0.u32(0) == Msg.modifyResponse && $0.u32(8) == relid }.map { $0.u32(12) }
    }
}

/// One ring as the guest sees it (Linux maps it twice; we follow the page list).
public struct GuestRingView {
    public let memory: GuestMemory
    public let pages: [UInt64]

    public init(memory: GuestMemory, pages: [UInt64]) {
        self.memory = memory
        self.pages = pages
    }

    public var header: GuestPhysicalAddress { GuestPhysicalAddress(pageNumber: pages[0]) }
    public var dataSize: Int { (pages.count - 1) * 4096 }

    public func field(_ off: UInt64) -> UInt32 { (try? memory.atomicLoad32(at: header.advanced(by: off)!)) ?? 0xDEAD }
    public func setField(_ off: UInt64, _ v: UInt32) { try? memory.atomicStore32(v, at: header.advanced(by: off)!) }
    public var writeIndex: UInt32 {
        get { field(0) }
        nonmutating set { setField(0, newValue) }
    }
    public var readIndex: UInt32 {
        get { field(4) }
        nonmutating set { setField(4, newValue) }
    }
    public var interruptMask: UInt32 {
        get { field(8) }
        nonmutating set { setField(8, newValue) }
    }
    public var pendingSendSize: UInt32 {
        get { field(12) }
        nonmutating set { setField(12, newValue) }
    }

    private func address(_ offset: Int) -> GuestPhysicalAddress {
        let o = offset % dataSize
        return GuestPhysicalAddress(pageNumber: pages[1 + o / 4096]).advanced(by: UInt64(o % 4096))!
    }

    public func copyIn(_ bytes: [UInt8], at offset: Int) {
        for (i, b) in bytes.enumerated() { try? memory.store(b, at: address(offset + i)) }
    }

    public func copyOut(_ count: Int, at offset: Int) -> [UInt8] {
        (0..<count).map { (try? memory.load(UInt8.self, at: address(offset + $0))) ?? 0 }
    }

    public func bytesToWrite() -> Int {
        let r = Int(readIndex), w = Int(writeIndex)
        return w >= r ? dataSize - (w - r) : r - w
    }
}

/// A guest packet as `hv_pkt_iter` yields it.
public struct GuestPacket: Equatable {
    public let type: UInt16
    public let flags: UInt16
    public let transactionID: UInt64
    public let payload: [UInt8]
    /// The whole packet, descriptor included (for transfer-page headers).
    public var raw: [UInt8] = []

    public init(type: UInt16, flags: UInt16, transactionID: UInt64, payload: [UInt8], raw: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.transactionID = transactionID
        self.payload = payload
        self.raw = raw
    }
}

/// An open channel on the guest side: hv_ringbuffer_write / hv_pkt_iter over the rings.
public final class GuestChannel {
    public unowned let driver: GuestDriver
    public let relid: UInt32
    public let connectionID: UInt32
    public let gpadl: UInt32
    public let outbound: GuestRingView
    public let inbound: GuestRingView
    public private(set) var signalsSent = 0

    public init(driver: GuestDriver, relid: UInt32, connectionID: UInt32, gpadl: UInt32, outbound: GuestRingView, inbound: GuestRingView) {
        self.driver = driver
        self.relid = relid
        self.connectionID = connectionID
        self.gpadl = gpadl
        self.outbound = outbound
        self.inbound = inbound
    }

    /// This channel as the same guest sees it after the VM was restored onto `driver` (a fresh
    /// host on a copy of the RAM): same rings, same pages.
    public func restored(onto driver: GuestDriver) -> GuestChannel {
        GuestChannel(
            driver: driver, relid: relid, connectionID: connectionID, gpadl: gpadl,
            outbound: GuestRingView(memory: driver.memory, pages: outbound.pages),
            inbound: GuestRingView(memory: driver.memory, pages: inbound.pages))
    }

    public func signalHost() {
        signalsSent += 1
        _ = driver.host.signalEvent(connectionID: connectionID, flagNumber: 0, vp: 0)
    }

    /// hv_ringbuffer_write: false when the ring has no room (then pending_send_sz is set).
    @discardableResult
    public func send(type: UInt16 = 6, flags: UInt16 = 0, transactionID: UInt64, payload: [UInt8]) -> Bool {
        let packetLen = 16 + payload.count
        let aligned = (packetLen + 7) & ~7
        let total = aligned + 8
        if outbound.bytesToWrite() <= total {
            outbound.pendingSendSize = UInt32(total)
            return false
        }
        var p = Bytes(count: aligned)
        p.put(type, at: 0)
        p.put(UInt16(2), at: 2)  // offset8
        p.put(UInt16(aligned / 8), at: 4)  // len8
        p.put(flags, at: 6)
        p.put(transactionID, at: 8)
        p.put(bytes: payload, at: 16)
        let old = Int(outbound.writeIndex)
        var trailer = Bytes(count: 8)
        trailer.put(UInt64(old) << 32, at: 0)
        outbound.copyIn(p.data + trailer.data, at: old)
        outbound.writeIndex = UInt32((old + total) % outbound.dataSize)
        // hv_signal_on_write
        if outbound.interruptMask == 0, old == Int(outbound.readIndex) { signalHost() }
        return true
    }

    /// Writes raw bytes (a hostile packet) at the write index and publishes `advance` bytes.
    public func sendRaw(_ bytes: [UInt8], advance: Int) {
        let old = Int(outbound.writeIndex)
        outbound.copyIn(bytes, at: old)
        outbound.writeIndex = UInt32((old + advance) % outbound.dataSize)
        signalHost()
    }

    /// hv_pkt_iter_first/next/close: reads every packet, then signals the host if it was
    /// waiting for space (pending_send_sz crossed).
    public func receive() -> [GuestPacket] {
        var packets: [GuestPacket] = []
        let start = Int(inbound.readIndex)
        var read = start
        while true {
            let w = Int(inbound.writeIndex)
            let avail = w >= read ? w - read : inbound.dataSize - read + w
            if avail < 24 { break }
            let d = Bytes(inbound.copyOut(16, at: read))
            let len = Int(d.u16(4)) * 8
            let off = Int(d.u16(2)) * 8
            guard len >= 16, off >= 16, off <= len, len + 8 <= avail else { break }
            let whole = inbound.copyOut(len, at: read)
            packets.append(GuestPacket(type: d.u16(0), flags: d.u16(6), transactionID: d.u64(8), payload: Array(whole[off...]), raw: whole))
            read = (read + len + 8) % inbound.dataSize
        }
        inbound.readIndex = UInt32(read)
        let pending = Int(inbound.pendingSendSize)
        if pending != 0 {
            let free = inbound.bytesToWrite()
            let bytesRead = read >= start ? read - start : inbound.dataSize - start + read
            if !(free - bytesRead > pending), free > pending { signalHost() }
        }
        return packets
    }
}
