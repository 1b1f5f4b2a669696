// netvsc through the host device, in process (`vmbus-bench netvsc [SCALE]`): Ethernet frames per
// second guest → host (SEND_RNDIS_PKT from send-buffer sections → backend) and host → guest
// (backend frame → receive-buffer section → transfer-page packet → guest completion), with the
// in-memory backend and heap-backed guest RAM; against memcpy of the same bytes. The guest side
// here is a minimal netvsc driver (ring writes, completion handling); its cost is included.
import Dispatch
import GuestMemory
import Logging
import SyntheticDevices
import Synchronization
import VMBus

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// A host with one network adapter and a guest that has run the netvsc + RNDIS bring-up.
final class NetvscSetup {
    let memory = GuestMemory.heapBacked(size: 64 << 20)
    let synic = BenchSynIC()
    let host: VMBusHost
    let guest: BenchGuest
    let backend = InMemoryPacketBackend(keepFrames: false)
    let adapter: NetworkAdapter
    let offer: Offer
    let outbound: BenchRing
    let inbound: BenchRing
    var write = 0
    var read = 0
    var nextTID: UInt64 = 1
    var receiveBase = GuestPhysicalAddress(0)
    var sendBase = GuestPhysicalAddress(0)
    static let mac: [UInt8] = [0x00, 0x15, 0x5D, 0, 0, 1]

    init() throws {
        let host = VMBusHost(memory: memory, port: synic, configuration: .init(vpCount: 1), logger: quietLogger)
        self.host = host
        adapter = NetworkAdapter(
            macAddress: Self.mac, instanceID: GUID(wireBytes: [UInt8](repeating: 1, count: 16)), backend: backend,
            gpadlLookup: { host.gpadl($0) }, logger: quietLogger)
        _ = try host.addDevice(adapter)
        guest = BenchGuest(host: host, synic: synic, memory: memory)
        guard guest.initiateContact(), let offer = guest.requestOffers().offers.first else { throw BenchError("no offer") }
        self.offer = offer
        (outbound, inbound) = try guest.open(offer, ringDataPages: 128)
        write = outbound.writeIndex
        read = inbound.readIndex
        // netvsc_connect_vsp: INIT 6.1, receive buffer 16 MiB, send buffer 1 MiB.
        guard request(nvsp(1, [(4, 0x60001), (8, 0x60001)]))?.u32(12) == 1 else { throw BenchError("INIT refused") }
        let receivePages = try guest.allocatePages(4096)
        let sendPages = try guest.allocatePages(256)
        receiveBase = GuestPhysicalAddress(pageNumber: receivePages[0])
        sendBase = GuestPhysicalAddress(pageNumber: sendPages[0])
        let rh = guest.allocateGPADLHandle(), sh = guest.allocateGPADLHandle()
        guard guest.createGPADL(relid: offer.relid, pages: receivePages, handle: rh) == 0,
            guest.createGPADL(relid: offer.relid, pages: sendPages, handle: sh) == 0,
            request(nvsp(101, [(4, rh), (8, 0xCAFE)]))?.u32(4) == 1, request(nvsp(104, [(4, sh)]))?.u32(4) == 1
        else { throw BenchError("buffers refused") }
        // RNDIS INITIALIZE and the packet filter (control messages from send section 0).
        try control([2, 24, 1, 1, 0, 0x4000])
        try control([5, 32, 2, 0x0001_010E, 4, 20, 0, 0x0D])
        guard adapter.status.linkUp else { throw BenchError("link not up") }
    }

    func nvsp(_ type: UInt32, _ fields: [(Int, UInt32)]) -> [UInt8] {
        var m = Bytes(count: 40)
        m.put(type, at: 0)
        for (o, v) in fields { m.put(v, at: o) }
        return m.data
    }

    /// Writes one packet into the guest → host ring (hv_ringbuffer_write), waiting for room.
    func send(type: UInt16, flags: UInt16, tid: UInt64, payload: [UInt8]) throws {
        let aligned = (16 + payload.count + 7) & ~7
        var p = Bytes(count: aligned + 8)
        p.put(type, at: 0)
        p.put(UInt16(2), at: 2)
        p.put(UInt16(aligned / 8), at: 4)
        p.put(flags, at: 6)
        p.put(tid, at: 8)
        p.data.replaceSubrange(16..<(16 + payload.count), with: payload)
        let total = aligned + 8
        while outbound.bytesToWrite() <= total {
            outbound.setPendingSendSize(total)
            if outbound.bytesToWrite() > total { break }
            drain { _, _, _ in }
            _ = synic.events.wait(timeout: .now() + .microseconds(100))
        }
        if outbound.pendingSendSize != 0 { outbound.setPendingSendSize(0) }
        let old = write
        p.put(UInt64(old) << 32, at: aligned)
        try outbound.copyIn(p.data, at: old)
        write = (old + total) % outbound.dataSize
        GuestMemory.fence()
        outbound.setWriteIndex(write)
        GuestMemory.fence()
        if outbound.interruptMask == 0 && outbound.readIndex == old {
            _ = host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0)
        }
    }

    /// Reads every packet in the host → guest ring: (type, transaction id, whole packet).
    func drain(_ body: (UInt16, UInt64, Bytes) throws -> Void) rethrows {
        let start = read
        while true {
            let w = inbound.writeIndex
            let available = w >= read ? w - read : inbound.dataSize - read + w
            if available < 24 { break }
            guard let d = try? Bytes(inbound.copyOut(16, at: read)) else { break }
            let length = Int(d.u16(4)) * 8
            guard length >= 16, length + 8 <= available, let whole = try? inbound.copyOut(length, at: read) else { break }
            read = (read + length + 8) % inbound.dataSize
            try body(d.u16(0), d.u64(8), Bytes(whole))
        }
        guard read != start else { return }
        GuestMemory.fence()
        inbound.setReadIndex(read)
        GuestMemory.fence()
        if inbound.pendingSendSize != 0 { _ = host.signalEvent(connectionID: offer.connectionID, flagNumber: 0, vp: 0) }
    }

    /// An in-band request with a completion; the completion's NVSP bytes.
    func request(_ message: [UInt8]) -> Bytes? {
        let tid = nextTID
        nextTID += 1
        guard (try? send(type: 6, flags: 1, tid: tid, payload: message)) != nil else { return nil }
        for _ in 0..<1000 {
            host.waitForIdle()
            var found: Bytes?
            drain { type, id, whole in if type == 11 && id == tid { found = Bytes(Array(whole.data[16...])) } }
            if let found { return found }
        }
        return nil
    }

    /// Sends an RNDIS control message from send section 0 and completes its response.
    func control(_ words: [UInt32]) throws {
        var m = Bytes(count: 4 * words.count)
        for (i, w) in words.enumerated() { m.put(w, at: 4 * i) }
        try memory.write(m.data, at: sendBase)
        guard request(nvsp(107, [(4, 1), (8, 0), (12, UInt32(m.data.count))]))?.u32(4) == 1 else {
            throw BenchError("RNDIS control refused")
        }
        host.waitForIdle()
        try drain { type, id, _ in if type == 7 { try completeReceive(id) } }
    }

    func completeReceive(_ tid: UInt64) throws {
        try send(type: 11, flags: 0, tid: tid, payload: nvsp(108, [(4, 1)]))
    }
}

/// Guest → host: `packets` frames of `size` bytes, each an RNDIS_PACKET in its own send-buffer
/// section (prefilled, as netvsc copies small skbs there), announced by SEND_RNDIS_PKT; the guest
/// drains the completions as it goes. Timed until the backend has every frame.
func netvscGuestToHost(_ s: NetvscSetup, size: Int, packets: Int) throws -> RingResult {
    let sections = 160
    var message = Bytes(count: 44)
    message.put(UInt32(1), at: 0)
    message.put(UInt32(44 + size), at: 4)
    message.put(UInt32(36), at: 8)
    message.put(UInt32(size), at: 12)
    let frame = NetvscSetup.mac + [UInt8](repeating: 0xA5, count: size - 6)
    for section in 0..<sections {
        try s.memory.write(message.data + frame, at: GuestPhysicalAddress(s.sendBase.rawValue + UInt64(section * 6144)))
    }
    let before = s.backend.transmittedCount
    let start = now()
    for i in 0..<packets {
        let tid = s.nextTID
        s.nextTID += 1
        try s.send(type: 6, flags: 1, tid: tid, payload: s.nvsp(107, [(4, 0), (8, UInt32(i % sections)), (12, UInt32(44 + size))]))
        if i % 32 == 31 { s.drain { _, _, _ in } }
    }
    while s.backend.transmittedCount - before < packets {
        s.drain { _, _, _ in }
        _ = s.synic.events.wait(timeout: .now() + .microseconds(100))
    }
    let elapsed = now() - start
    s.host.waitForIdle()
    s.drain { _, _, _ in }
    return RingResult(size: size, packets: packets, nanoseconds: elapsed)
}

/// Host → guest: a host thread hands `packets` frames to the adapter (as the TAP reader does);
/// the guest reads each transfer-page packet, copies the frame out of its receive section and
/// completes it. Frames the adapter had to drop (no free section, ring full) are counted.
func netvscHostToGuest(_ s: NetvscSetup, size: Int, packets: Int) throws -> (RingResult, dropped: Int) {
    let frame = NetvscSetup.mac + [UInt8](repeating: 0x5A, count: size - 6)
    let dropsBefore = s.adapter.status.statistics.rxDrops
    let injected = Atomic<Int>(0)
    let backend = s.backend
    let start = now()
    DispatchQueue.global().async {
        for _ in 0..<packets {
            backend.inject(frame)
            injected.add(1, ordering: .releasing)
        }
    }
    var delivered = 0
    var bytes = 0
    while true {
        try s.drain { type, tid, whole in
            guard type == 7 else { return }
            let count = Int(whole.u32(24)), offset = Int(whole.u32(28))
            let copy = try s.memory.read(at: GuestPhysicalAddress(s.receiveBase.rawValue + UInt64(offset)), count: count)
            bytes += copy.count - 44
            delivered += 1
            try s.completeReceive(tid)
        }
        if injected.load(ordering: .acquiring) == packets {
            let dropped = Int(s.adapter.status.statistics.rxDrops - dropsBefore)
            if delivered + dropped >= packets { break }
        }
    }
    let elapsed = now() - start
    guard bytes == delivered * size else { throw BenchError("host → guest \(size) B: frames damaged") }
    let dropped = Int(s.adapter.status.statistics.rxDrops - dropsBefore)
    return (RingResult(size: size, packets: delivered, nanoseconds: elapsed), dropped)
}

func netvscBenchmarks(scale: Double) throws {
    let s = try NetvscSetup()
    print("# netvsc: NetworkAdapter + InMemoryPacketBackend, guest driver in process, heap guest RAM; best of 3")
    print("")
    print("| frame | direction | frames/s | Gbit/s (frames) | memcpy frames/s | device / memcpy | drops |")
    print("|---|---|---|---|---|---|---|")
    for size in [64, 1500] {
        let packets = max(Int(200_000 * scale), 1000)
        func best(_ f: () throws -> RingResult) rethrows -> RingResult {
            var b = try f()
            for _ in 0..<2 {
                let r = try f()
                if r.nanoseconds < b.nanoseconds { b = r }
            }
            return b
        }
        let copy = best { memcpyBaseline(size: size, packets: packets, ringSize: 1 << 20) }
        let g2h = try best { try netvscGuestToHost(s, size: size, packets: packets) }
        var drops = 0
        let h2g = try best {
            let (r, d) = try netvscHostToGuest(s, size: size, packets: packets)
            drops += d
            return r
        }
        let copyRate = Double(copy.packets) / (Double(copy.nanoseconds) / 1e9)
        for (name, r, d) in [("guest → host", g2h, 0), ("host → guest", h2g, drops)] {
            let rate = Double(r.packets) / (Double(r.nanoseconds) / 1e9)
            print(
                "| \(size) B | \(name) | \(Int(rate)) | \(fmt(rate * Double(size) * 8 / 1e9, 2)) | \(Int(copyRate)) | "
                    + "1/\(Int((copyRate / rate).rounded())) | \(d) |")
        }
    }
}
