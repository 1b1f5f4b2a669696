import GuestMemory
import HyperV
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport

// A guest-side netvsc + RNDIS driver for tests, written from Linux 6.1
// drivers/net/hyperv/{netvsc.c,rndis_filter.c,hyperv_net.h} and the protocol doc §10, not from
// the host code. It talks to the host only through the VMBus rings and guest memory.

enum NVSP {
    static let initialize: UInt32 = 1, initComplete: UInt32 = 2, ndisVersion: UInt32 = 100
    static let recvBuf: UInt32 = 101, recvBufComplete: UInt32 = 102, revokeRecvBuf: UInt32 = 103
    static let sendBuf: UInt32 = 104, sendBufComplete: UInt32 = 105, revokeSendBuf: UInt32 = 106
    static let rndisPacket: UInt32 = 107, rndisPacketComplete: UInt32 = 108, ndisConfig: UInt32 = 125
    static let subchannel: UInt32 = 133
    static let success: UInt32 = 1
}

enum RNDIS {
    static let packet: UInt32 = 1, initialize: UInt32 = 2, halt: UInt32 = 3, query: UInt32 = 4, set: UInt32 = 5
    static let reset: UInt32 = 6, keepalive: UInt32 = 8
    static let complete: UInt32 = 0x8000_0000
    static let permanentAddress: UInt32 = 0x0101_0101, maxFrameSize: UInt32 = 0x0001_0106
    static let friendlyName: UInt32 = 0x0002_0216, offloadCaps: UInt32 = 0xFC01_020D
    static let offloadParams: UInt32 = 0xFC01_020C, mediaConnect: UInt32 = 0x0001_0114
    static let linkSpeed: UInt32 = 0x0001_0107, rssCaps: UInt32 = 0x0001_0203
    static let packetFilter: UInt32 = 0x0001_010E
}

/// A message the host put in the receive buffer.
struct ReceivedRNDIS {
    let channelType: UInt32
    let transactionID: UInt64
    let bytes: Bytes
}

struct NetHarness {
    let memory: GuestMemory
    let synic = FakeSynIC()
    let host: VMBusHost
    let guest: GuestDriver

    init(memoryMiB: UInt64 = 16, memory: GuestMemory? = nil) {
        self.memory = memory ?? GuestMemory.heapBacked(size: memoryMiB << 20)
        let memory = self.memory
        host = VMBusHost(memory: memory, port: synic, configuration: .init(vpCount: 1))
        guest = GuestDriver(host: host, synic: synic, memory: memory)
    }
}

final class NetvscGuest {
    let h: NetHarness
    let channel: GuestChannel
    var memory: GuestMemory { h.memory }
    private var nextTID: UInt64 = 1
    private var nextRequestID: UInt32 = 1
    var completions: [UInt64: Bytes] = [:]
    var control: [ReceivedRNDIS] = []
    var frames: [[UInt8]] = []
    var allReceived: [ReceivedRNDIS] = []
    /// When false, received transfer-page packets are not completed (a guest that stopped reading).
    var autoComplete = true
    var uncompleted: [UInt64] = []
    var receivePages: [UInt64] = []
    var receiveGPADL: UInt32 = 0
    var sendPages: [UInt64] = []
    var receiveSectionSize = 0
    var receiveSectionCount = 0
    var sendSectionSize = 0

    let offer: GuestOffer

    init(h: NetHarness, ringPages: Int = 32) throws {
        self.h = h
        _ = h.guest.negotiate()
        offer = try #require(h.guest.requestOffers().offers.first)
        channel = try #require(h.guest.open(offer: offer, sendPages: ringPages, receivePages: ringPages).0)
        h.host.waitForIdle()
    }

    /// The same device after the guest closed the channel (netvsc_change_mtu, driver reload).
    init(reopening previous: NetvscGuest) throws {
        h = previous.h
        offer = previous.offer
        h.guest.close(relid: offer.relid)
        h.host.waitForIdle()
        channel = try #require(h.guest.open(offer: offer, sendPages: 32, receivePages: 32).0)
        h.host.waitForIdle()
    }

    /// The same guest driver state after the VM was saved and restored onto `h` (a fresh host
    /// on a copy of the RAM): rings and buffers are where they were; nothing is renegotiated.
    init(restoring previous: NetvscGuest, onto h: NetHarness) {
        self.h = h
        offer = previous.offer
        h.guest.messageConnectionID = previous.h.guest.messageConnectionID
        h.guest.nextFreePage = previous.h.guest.nextFreePage
        channel = previous.channel.restored(onto: h.guest)
        nextTID = previous.nextTID
        nextRequestID = previous.nextRequestID
        receivePages = previous.receivePages
        receiveGPADL = previous.receiveGPADL
        sendPages = previous.sendPages
        receiveSectionSize = previous.receiveSectionSize
        receiveSectionCount = previous.receiveSectionCount
        sendSectionSize = previous.sendSectionSize
        uncompleted = previous.uncompleted
    }

    func tid() -> UInt64 {
        defer { nextTID += 1 }
        return nextTID
    }

    /// Reads the inbound ring: completions are filed by transaction id, receive-buffer packets
    /// are decoded and (by default) completed like netvsc_receive + send_recv_completions.
    func pump() {
        for _ in 0..<4 {
            h.host.waitForIdle()
            for packet in channel.receive() {
                switch packet.type {
                case 11: completions[packet.transactionID] = Bytes(packet.payload)
                case 7: receive(packet)
                default: Issue.record("unexpected packet type \(packet.type)")
                }
            }
        }
        h.host.waitForIdle()
    }

    private func receive(_ packet: GuestPacket) {
        // vmtransfer_page_packet_header: xfer_pageset_id @16, range_cnt @20, ranges @24.
        let raw = Bytes(packet.raw)
        let nvsp = Bytes(packet.payload)
        let offset8 = Int(raw.u16(2)) * 8
        guard nvsp.u32(0) == NVSP.rndisPacket, packet.flags & 1 != 0, raw.u16(16) == 0xCAFE, raw.u32(20) == 1,
            offset8 >= 32, packet.payload.count >= 16
        else {
            Issue.record("bad receive packet")
            return
        }
        let count = Int(raw.u32(24)), offset = Int(raw.u32(28))
        guard offset + count <= receivePages.count * 4096, count <= receiveSectionSize else {
            Issue.record("receive range \(offset)+\(count) outside the buffer")
            return
        }
        let bytes = readReceiveBuffer(offset: offset, count: count)
        let message = ReceivedRNDIS(channelType: nvsp.u32(4), transactionID: packet.transactionID, bytes: Bytes(bytes))
        allReceived.append(message)
        if message.channelType == 1 {
            control.append(message)
        } else if let frame = Self.frame(of: message.bytes) {
            frames.append(frame)
        }
        if autoComplete { completeReceive(packet.transactionID) } else { uncompleted.append(packet.transactionID) }
    }

    func completeReceive(_ transactionID: UInt64) {
        var m = Bytes(count: 40)
        m.put(NVSP.rndisPacketComplete, at: 0)
        m.put(NVSP.success, at: 4)
        channel.send(type: 11, flags: 0, transactionID: transactionID, payload: m.data)
    }

    static func frame(of m: Bytes) -> [UInt8]? {
        guard m.u32(0) == RNDIS.packet else { return nil }
        let offset = 8 + Int(m.u32(8)), length = Int(m.u32(12))
        guard offset + length <= m.data.count else { return nil }
        return Array(m.data[offset..<(offset + length)])
    }

    func readReceiveBuffer(offset: Int, count: Int) -> [UInt8] {
        (0..<count).map { i in
            let o = offset + i
            return (try? memory.load(UInt8.self, at: GuestPhysicalAddress(pageNumber: receivePages[o / 4096]).advanced(by: UInt64(o % 4096))!)) ?? 0
        }
    }

    /// Sends an in-band NVSP message with completion requested; returns the completion.
    @discardableResult
    func request(_ message: Bytes, expectCompletion: Bool = true) -> Bytes? {
        var m = message
        if m.data.count < 40 { m.put(bytes: [UInt8](repeating: 0, count: 40 - m.data.count), at: m.data.count) }
        let id = tid()
        channel.send(type: 6, flags: expectCompletion ? 1 : 0, transactionID: id, payload: m.data)
        pump()
        return completions.removeValue(forKey: id)
    }

    func nvsp(_ type: UInt32, _ fields: [(Int, UInt32)]) -> Bytes {
        var m = Bytes(count: 40)
        m.put(type, at: 0)
        for (o, v) in fields { m.put(v, at: o) }
        return m
    }

    // MARK: netvsc_connect_vsp

    /// INIT at `version`; returns (status, negotiated).
    func initialize(version: UInt32) -> (UInt32, UInt32)? {
        guard let c = request(nvsp(NVSP.initialize, [(4, version), (8, version)])) else { return nil }
        #expect(c.data.count >= 28)
        #expect(c.u32(0) == NVSP.initComplete)
        return (c.u32(12), c.u32(4))
    }

    /// The whole connect sequence as Linux 6.1 runs it; returns whether every step succeeded.
    func connect(receiveBufferPages: Int = 64, sendBufferPages: Int = 16) -> Bool {
        var negotiated = false
        for v: UInt32 in [0x60001, 0x60000, 0x50000, 0x40000, 0x30002, 0x2] {
            if let r = initialize(version: v), r.0 == NVSP.success {
                #expect(r.1 == v)
                negotiated = true
                break
            }
        }
        guard negotiated else { return false }
        request(nvsp(NVSP.ndisConfig, [(4, 1514), (12, 1)]), expectCompletion: false)
        request(nvsp(NVSP.ndisVersion, [(4, 6), (8, 30)]), expectCompletion: false)
        receivePages = h.guest.allocatePages(receiveBufferPages)
        let (rh, rs) = h.guest.createGPADL(relid: channel.relid, pages: receivePages)
        receiveGPADL = rh
        guard rs == 0, let rc = request(nvsp(NVSP.recvBuf, [(4, rh), (8, 0xCAFE)])), rc.u32(0) == NVSP.recvBufComplete,
            rc.u32(4) == NVSP.success, rc.u32(8) == 1, rc.u32(12) == 0
        else { return false }
        receiveSectionSize = Int(rc.u32(16))
        receiveSectionCount = Int(rc.u32(20))
        #expect(receiveSectionSize >= 68 && receiveSectionSize * receiveSectionCount <= receiveBufferPages * 4096)
        sendPages = h.guest.allocatePages(sendBufferPages)
        let (sh, ss) = h.guest.createGPADL(relid: channel.relid, pages: sendPages)
        guard ss == 0, let sc = request(nvsp(NVSP.sendBuf, [(4, sh), (8, 0)])), sc.u32(0) == NVSP.sendBufComplete,
            sc.u32(4) == NVSP.success
        else { return false }
        sendSectionSize = Int(sc.u32(8))
        return sendSectionSize >= 68
    }

    // MARK: RNDIS

    /// Sends RNDIS bytes the way netvsc_send does: GPA-direct pages (control, big frames) or a
    /// send-buffer section. Returns the SEND_RNDIS_PKT_COMPLETE status.
    @discardableResult
    func sendRNDIS(_ message: [UInt8], channelType: UInt32, section: UInt32? = nil) -> UInt32? {
        let id = tid()
        if let section {
            writeSendBuffer(message, at: Int(section) * sendSectionSize)
            let m = nvsp(NVSP.rndisPacket, [(4, channelType), (8, section), (12, UInt32(message.count))])
            channel.send(type: 6, flags: 1, transactionID: id, payload: m.data)
        } else {
            // One page range per page the message touches (hv_page_buffer layout), starting
            // mid-page like an skb head does.
            let pages = h.guest.allocatePages(message.count / 4096 + 2)
            let start = 200
            var ranges: [(UInt32, UInt32, UInt64)] = []
            var done = 0
            var page = 0
            var inPage = start
            while done < message.count {
                let n = min(message.count - done, 4096 - inPage)
                for i in 0..<n {
                    try? memory.store(message[done + i], at: GuestPhysicalAddress(pageNumber: pages[page]).advanced(by: UInt64(inPage + i))!)
                }
                ranges.append((UInt32(n), UInt32(inPage), pages[page]))
                done += n
                page += 1
                inPage = 0
            }
            let m = nvsp(NVSP.rndisPacket, [(4, channelType), (8, 0xFFFF_FFFF), (12, 0)])
            sendGPADirect(ranges: ranges, payload: m.data, transactionID: id)
        }
        pump()
        return completions.removeValue(forKey: id).map { $0.u32(4) }
    }

    /// Writes a VM_PKT_DATA_USING_GPA_DIRECT packet (vmbus_sendpacket_mpb_desc).
    func sendGPADirect(ranges: [(count: UInt32, offset: UInt32, pfn: UInt64)], payload: [UInt8], transactionID: UInt64) {
        var header = Bytes(count: 8)
        header.put(UInt32(0), at: 0)
        header.put(UInt32(ranges.count), at: 4)
        for r in ranges {
            var e = Bytes(count: 16)
            e.put(r.count, at: 0)
            e.put(r.offset, at: 4)
            e.put(r.pfn, at: 8)
            header.put(bytes: e.data, at: header.data.count)
        }
        channel.sendPacket(type: 9, flags: 1, transactionID: transactionID, header: header.data, payload: payload)
    }

    func writeSendBuffer(_ bytes: [UInt8], at offset: Int) {
        for (i, b) in bytes.enumerated() {
            let o = offset + i
            try? memory.store(b, at: GuestPhysicalAddress(pageNumber: sendPages[o / 4096]).advanced(by: UInt64(o % 4096))!)
        }
    }

    /// A control request; returns the matching completion from the receive buffer.
    func rndisRequest(_ type: UInt32, _ body: [UInt8]) -> Bytes? {
        let requestID = nextRequestID
        nextRequestID += 1
        var m = Bytes(count: 12)
        m.put(type, at: 0)
        m.put(UInt32(12 + body.count), at: 4)
        m.put(requestID, at: 8)
        m.put(bytes: body, at: 12)
        control = []
        guard sendRNDIS(m.data, channelType: 1) == NVSP.success else { return nil }
        return control.first { $0.bytes.u32(0) == type | RNDIS.complete && $0.bytes.u32(8) == requestID }?.bytes
    }

    /// QUERY `oid` (rndis_filter_query_device: info_buf_offset = sizeof(rndis_query_request)).
    func query(_ oid: UInt32, inputLength: Int = 0) -> (status: UInt32, info: [UInt8])? {
        var body = Bytes(count: 16)
        body.put(oid, at: 0)
        body.put(UInt32(inputLength), at: 4)
        body.put(UInt32(20), at: 8)
        body.put(bytes: [UInt8](repeating: 0, count: inputLength), at: 16)
        guard let c = rndisRequest(RNDIS.query, body.data) else { return nil }
        let length = Int(c.u32(16)), offset = 8 + Int(c.u32(20))
        guard length == 0 || offset + length <= c.data.count else { return nil }
        return (c.u32(12), length == 0 ? [] : Array(c.data[offset..<(offset + length)]))
    }

    func set(_ oid: UInt32, _ info: [UInt8]) -> UInt32? {
        var body = Bytes(count: 16)
        body.put(oid, at: 0)
        body.put(UInt32(info.count), at: 4)
        body.put(UInt32(20), at: 8)
        body.put(bytes: info, at: 16)
        return rndisRequest(RNDIS.set, body.data).map { $0.u32(12) }
    }

    /// rndis_filter_device_add + rndis_filter_open; returns the MAC.
    func bringUp() -> [UInt8]? {
        var body = Bytes(count: 12)
        body.put(UInt32(1), at: 0)
        body.put(UInt32(0), at: 4)
        body.put(UInt32(0x4000), at: 8)
        guard let ic = rndisRequest(RNDIS.initialize, body.data), ic.u32(12) == 0, ic.data.count >= 52 else { return nil }
        _ = query(RNDIS.maxFrameSize, inputLength: 4)
        guard let mac = query(RNDIS.permanentAddress, inputLength: 6), mac.status == 0, mac.info.count == 6 else { return nil }
        _ = query(RNDIS.friendlyName)
        guard let caps = query(RNDIS.offloadCaps, inputLength: 156), caps.status == 0,
            caps.info.count >= 112, caps.info.count <= 156, caps.info[0] == 0xA7, caps.info[1] >= 1
        else { return nil }
        guard set(RNDIS.offloadParams, [UInt8](repeating: 0, count: 28)) == 0 else { return nil }
        guard let link = query(RNDIS.mediaConnect, inputLength: 4), link.status == 0, link.info == [0, 0, 0, 0] else { return nil }
        _ = query(RNDIS.linkSpeed, inputLength: 4)
        if let rss = query(RNDIS.rssCaps), rss.status == 0 { Issue.record("RSS capabilities offered") }
        guard set(RNDIS.packetFilter, [0x0D, 0, 0, 0]) == 0 else { return nil }
        return mac.info
    }

    /// An RNDIS_PACKET around `frame` (rndis_filter_send / netvsc_xmit: data_offset after PPI).
    static func rndisPacket(_ frame: [UInt8], ppi: [UInt8] = []) -> [UInt8] {
        var m = Bytes(count: 44)
        m.put(RNDIS.packet, at: 0)
        m.put(UInt32(44 + ppi.count + frame.count), at: 4)
        m.put(UInt32(36 + ppi.count), at: 8)
        m.put(UInt32(frame.count), at: 12)
        if !ppi.isEmpty {
            m.put(UInt32(36), at: 28)
            m.put(UInt32(ppi.count), at: 32)
        }
        m.put(bytes: ppi + frame, at: 44)
        return m.data
    }
}

extension GuestChannel {
    /// Writes a packet with `header` between descriptor and payload (GPA direct, transfer pages).
    func sendPacket(type: UInt16, flags: UInt16, transactionID: UInt64, header: [UInt8], payload: [UInt8]) {
        let headerLength = (16 + header.count + 7) & ~7
        let total = (headerLength + payload.count + 7) & ~7
        var p = Bytes(count: total)
        p.put(type, at: 0)
        p.put(UInt16(headerLength / 8), at: 2)
        p.put(UInt16(total / 8), at: 4)
        p.put(flags, at: 6)
        p.put(transactionID, at: 8)
        p.put(bytes: header, at: 16)
        p.put(bytes: payload, at: headerLength)
        var trailer = Bytes(count: 8)
        let old = Int(outbound.writeIndex)
        trailer.put(UInt64(old) << 32, at: 0)
        sendRaw(p.data + trailer.data, advance: total + 8)
    }
}
