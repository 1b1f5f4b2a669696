/// Valid RNDIS messages as Linux's rndis_filter.c and netvsc_drv.c build them, for the fuzzer
/// to patch: a few mutated bytes in a valid message get further than random bytes would.
enum RNDISTemplates {
    static func message(_ type: UInt32, _ words: [UInt32], tail: [UInt8] = []) -> [UInt8] {
        var m = Bytes(count: 8)
        m.put(type, at: 0)
        for word in words { m.put(word, at: m.data.count) }
        m.put(bytes: tail, at: m.data.count)
        m.put(UInt32(m.data.count), at: 4)
        return m.data
    }

    /// QUERY/SET `{ req_id; oid; info_buflen; info_buf_offset = 20; dev_vc_handle }` + info.
    static func request(_ type: UInt32, _ oid: UInt32, info: [UInt8]) -> [UInt8] {
        message(type, [9, oid, UInt32(info.count), 20, 0], tail: info)
    }

    /// An RNDIS_PACKET: per-packet info first, then the frame (netvsc_xmit's layout).
    static func packet(_ frame: [UInt8], ppi: [UInt8] = []) -> [UInt8] {
        var m = Bytes(count: 44)
        m.put(UInt32(1), at: 0)
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

    /// A per-packet info element `{ size; type; ppi_offset = 12; value }`.
    static func ppi(_ type: UInt32, _ value: UInt32) -> [UInt8] {
        var e = Bytes(count: 16)
        e.put(UInt32(16), at: 0)
        e.put(type, at: 4)
        e.put(UInt32(12), at: 8)
        e.put(value, at: 12)
        return e.data
    }

    static func frame(_ destination: [UInt8], size: Int) -> [UInt8] {
        destination + [0x00, 0x15, 0x5D, 0, 0, 1, 0x08, 0x00] + (0..<max(0, size - 14)).map { UInt8(truncatingIfNeeded: $0) }
    }

    static let broadcast = [UInt8](repeating: 0xFF, count: 6)
    static let initialize = message(2, [1, 1, 0, 0x4000])
    static let setFilter = request(5, 0x0001_010E, info: [0x2F, 0, 0, 0])

    /// Picked by the first byte of a record.
    static let all: [[UInt8]] = [
        initialize,
        request(4, 0x0101_0101, info: [UInt8](repeating: 0, count: 6)),  // permanent address
        request(4, 0xFC01_020D, info: [UInt8](repeating: 0, count: 156)),  // offload capabilities
        request(4, 0x0001_0203, info: []),  // RSS capabilities (refused)
        setFilter,
        request(5, 0x0101_0103, info: [UInt8](repeating: 0x01, count: 12)),  // multicast list
        request(5, 0xFC01_020C, info: [UInt8](repeating: 0, count: 28)),  // offload parameters
        message(8, [9]),  // KEEPALIVE
        message(6, [0]),  // RESET
        message(3, [9]),  // HALT
        packet(frame(broadcast, size: 60)),
        // Checksum and VLAN info, as a TX with offloads asked for would carry.
        packet(frame(FuzzGuest.mac, size: 60), ppi: ppi(0, 0x5) + ppi(4, 0x64)),
        packet(frame(broadcast, size: 1514)),
        // Two packets batched, each padded to 8 bytes.
        packet(frame(broadcast, size: 61)) + [0, 0, 0] + packet(frame([0x01, 0, 0x5E, 0, 0, 1], size: 64)),
    ]

    /// The message a record describes: `[template][offset][patch...]` is template `template`
    /// with `patch` written at `offset` (growing it if needed); a template number past the list
    /// means the rest of the record is the message itself.
    static func build(_ body: [UInt8]) -> [UInt8] {
        guard let choice = body.first else { return [] }
        guard Int(choice) < all.count else { return Array(body.dropFirst()) }
        var message = all[Int(choice)]
        guard body.count >= 2 else { return message }
        let offset = Int(body[1]) * 2 % max(message.count, 1)
        let patch = Array(body.dropFirst(2))
        if offset + patch.count > message.count {
            message += [UInt8](repeating: 0, count: offset + patch.count - message.count)
        }
        message.replaceSubrange(offset..<(offset + patch.count), with: patch)
        return message
    }
}
