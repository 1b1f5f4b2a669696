import VMBusTestSupport

// The guest side of the integration services, written from Linux drivers/hv/hv_util.c,
// hv_kvp.c and channel.c (vmbus_prep_negotiate_resp), not from the host code.

enum GuestIC {
    static let negotiate: UInt16 = 0, heartbeat: UInt16 = 1, kvp: UInt16 = 2, shutdown: UInt16 = 3, timesync: UInt16 = 4
    static let icmsgHdr = 28  // sizeof(vmbuspipe_hdr) + sizeof(icmsg_hdr)
    static let fwVersions: [(UInt16, UInt16)] = [(3, 0), (1, 0)]  // UTIL_FW_VERSION, UTIL_WS2K8_FW_VERSION
    static let hvEFail: UInt32 = 0x8000_4005
}

/// One hv_util-style service in the guest: answers each host message in the same buffer.
final class GuestUtilService {
    let channel: GuestChannel
    let serviceVersions: [(UInt16, UInt16)]
    var negotiated: (fw: (UInt16, UInt16), srv: (UInt16, UInt16))?
    /// Service-specific handling of non-negotiate messages; mutate the buffer for the answer.
    var handler: (UInt16, inout Bytes) -> Void = { _, _ in }
    /// When false the guest reads but never answers (a hung guest, or KVP without its daemon).
    var answering = true
    var received: [Bytes] = []

    init(channel: GuestChannel, serviceVersions: [(UInt16, UInt16)]) {
        self.channel = channel
        self.serviceVersions = serviceVersions
    }

    /// Reads every pending packet and answers it (the channel callback).
    func poll() {
        for packet in channel.receive() {
            var buf = Bytes(packet.payload)
            received.append(buf)
            guard answering, buf.data.count >= GuestIC.icmsgHdr else { continue }
            let msgtype = buf.u16(8 + 4)
            if msgtype == GuestIC.negotiate {
                prepNegotiateResponse(&buf)
            } else {
                handler(msgtype, &buf)
            }
            buf.put(UInt8(1 | 4), at: 8 + 17)  // ICMSGHDRFLAG_TRANSACTION | ICMSGHDRFLAG_RESPONSE
            channel.send(type: 6, flags: 0, transactionID: packet.transactionID, payload: buf.data)
        }
    }

    /// vmbus_prep_negotiate_resp.
    private func prepNegotiateResponse(_ buf: inout Bytes) {
        let h = GuestIC.icmsgHdr
        guard buf.data.count >= h + 4 else { return }
        buf.put(UInt16(0x10), at: 8 + 10)  // icmsgsize
        let fwCount = Int(buf.u16(h)), msgCount = Int(buf.u16(h + 2))
        var fw: (UInt16, UInt16)?
        var srv: (UInt16, UInt16)?
        if fwCount <= 100, msgCount <= 100, h + 8 + 4 * (fwCount + msgCount) <= buf.data.count {
            func version(_ j: Int) -> (UInt16, UInt16) { (buf.u16(h + 8 + 4 * j), buf.u16(h + 10 + 4 * j)) }
            fw = GuestIC.fwVersions.first { want in (0..<fwCount).contains { version($0) == want } }
            if fw != nil {
                srv = serviceVersions.first { want in (fwCount..<(fwCount + msgCount)).contains { version($0) == want } }
            }
        }
        if let fw, let srv {
            buf.put(UInt16(1), at: h)
            buf.put(UInt16(1), at: h + 2)
            negotiated = (fw, srv)
        } else {
            buf.put(UInt16(0), at: h)
            buf.put(UInt16(0), at: h + 2)
        }
        buf.put(fw?.0 ?? 0, at: h + 8)
        buf.put(fw?.1 ?? 0, at: h + 10)
        buf.put(srv?.0 ?? 0, at: h + 12)
        buf.put(srv?.1 ?? 0, at: h + 14)
    }
}

/// UTF-16LE helpers as hv_kvp.c's utf16s_to_utf8s / utf8s_to_utf16s use them.
func utf16Bytes(_ s: String) -> [UInt8] {
    (Array(s.utf16) + [0]).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

func utf16String(_ bytes: ArraySlice<UInt8>) -> String {
    var units: [UInt16] = []
    var i = bytes.startIndex
    while i + 1 < bytes.endIndex {
        let u = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
        if u == 0 { break }
        units.append(u)
        i += 2
    }
    return String(decoding: units, as: UTF16.self)
}
