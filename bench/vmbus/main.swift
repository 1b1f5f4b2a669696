// VMBus host-side cost (issue 4, "Measure"): channel-management messages per second through
// `VMBusHost` (the guest's HvPostMessage → host → reply posted to the SynIC), and ring-buffer
// throughput between the host and an in-process guest driver over heap-backed guest RAM, for
// several packet sizes, against `memcpy` of the same bytes. Reported, not asserted.
//
//   swift build -c release --product vmbus-bench && .build/release/vmbus-bench [SECONDS_SCALE]
//   .build/release/vmbus-bench netvsc [SCALE]   (the network adapter: frames/s, see NetvscBench.swift)
import Dispatch
import GuestMemory
import HyperV
import Logging
import VMBus

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// Warnings only: the host logs every connection at info level.
let quietLogger: Logger = {
    var logger = Logger(label: "vmbus-bench")
    logger.logLevel = .warning
    return logger
}()

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// A host with one bench device, its SynIC double, 64 MiB of guest RAM and a connected guest.
struct Setup {
    let memory = GuestMemory.heapBacked(size: 64 << 20)
    let synic = BenchSynIC()
    let host: VMBusHost
    let guest: BenchGuest
    let device = BenchDevice(instance: 1)
    let offer: Offer

    init() throws {
        host = VMBusHost(memory: memory, port: synic, configuration: .init(vpCount: 2), logger: quietLogger)
        _ = try host.addDevice(device)
        guest = BenchGuest(host: host, synic: synic, memory: memory)
        guard guest.initiateContact() else { throw BenchError("version 5.3 refused") }
        guard let offer = guest.requestOffers().offers.first else { throw BenchError("no offer") }
        self.offer = offer
    }
}

// MARK: messages

struct MessageResult {
    let name: String
    let roundTrips: Int
    let messages: Int
    let nanoseconds: UInt64
}

/// Runs `body` (which returns false on a missing reply) `iterations` times.
func timeMessages(
    _ name: String, iterations: Int, roundTripsPerIteration: Int, guest: BenchGuest, _ body: () -> Bool
) throws -> MessageResult {
    let posted = guest.posted
    let start = now()
    for _ in 0..<iterations where !body() { throw BenchError("\(name): the host did not answer") }
    let elapsed = now() - start
    return MessageResult(
        name: name, roundTrips: iterations * roundTripsPerIteration, messages: guest.posted - posted,
        nanoseconds: elapsed)
}

func messageBenchmarks(scale: Double) throws -> [MessageResult] {
    let n = max(Int(20_000 * scale), 100)
    var results: [MessageResult] = []
    do {
        let s = try Setup()
        results.append(
            try timeMessages("INITIATE_CONTACT + UNLOAD", iterations: n, roundTripsPerIteration: 2, guest: s.guest) {
                s.guest.initiateContact() && s.guest.unload()
            })
    }
    for pages in [8, 64] {
        let s = try Setup()
        let list = try s.guest.allocatePages(pages)
        let bodies = max(0, (pages - 26 + 27) / 28)
        results.append(
            try timeMessages(
                "GPADL create + teardown, \(pages) pages (\(1 + bodies)+1 msgs)", iterations: n, roundTripsPerIteration: 2,
                guest: s.guest
            ) {
                let handle = s.guest.allocateGPADLHandle()
                return s.guest.createGPADL(relid: s.offer.relid, pages: list, handle: handle) == 0
                    && s.guest.teardownGPADL(relid: s.offer.relid, handle: handle)
            })
    }
    do {
        let s = try Setup()
        _ = try s.guest.open(s.offer, ringDataPages: 4)
        var vp: UInt32 = 0
        results.append(
            try timeMessages("MODIFYCHANNEL (open channel)", iterations: n, roundTripsPerIteration: 1, guest: s.guest) {
                vp ^= 1
                return s.guest.modify(relid: s.offer.relid, targetVP: vp) == 0
            })
    }
    return results
}

// MARK: rings

struct RingResult {
    let size: Int
    let packets: Int
    let nanoseconds: UInt64
    var bytes: Int { size * packets }
    var gbps: Double { Double(bytes) / Double(nanoseconds) }
}

/// Guest → host: the guest writes `packets` in-band packets of `size` payload bytes the way
/// `hv_ringbuffer_write` does (waiting on pending_send_sz when full); the host drains them on the
/// device's queue and hands each to the device.
func guestToHost(_ s: Setup, ring: BenchRing, size: Int, packets: Int) throws -> RingResult {
    let aligned = (16 + size + 7) & ~7
    var packet = Bytes(count: aligned + 8)
    packet.put(UInt16(6), at: 0)  // VM_PKT_DATA_INBAND
    packet.put(UInt16(2), at: 2)  // offset8
    packet.put(UInt16(aligned / 8), at: 4)  // len8
    var bytes = packet.data
    let payload = BenchPattern.payload(size)
    bytes.replaceSubrange(16..<(16 + size), with: payload)
    let total = aligned + 8
    s.device.reset(expecting: packets)
    while s.synic.events.wait(timeout: .now()) == .success {}
    var write = ring.writeIndex
    let start = now()
    for i in 0..<packets {
        while ring.bytesToWrite() <= total {
            ring.setPendingSendSize(total)
            if ring.bytesToWrite() > total { break }
            _ = s.synic.events.wait(timeout: .now() + .milliseconds(1))
        }
        if ring.pendingSendSize != 0 { ring.setPendingSendSize(0) }
        let old = write
        let trailer = UInt64(old) << 32
        for b in 0..<8 { bytes[aligned + b] = UInt8(truncatingIfNeeded: trailer >> (8 * b)) }
        bytes[8] = UInt8(truncatingIfNeeded: i)  // transaction id, low byte
        try ring.copyIn(bytes, at: old)
        write = (old + total) % ring.dataSize
        GuestMemory.fence()
        ring.setWriteIndex(write)
        GuestMemory.fence()
        if ring.interruptMask == 0 && ring.readIndex == old {
            _ = s.host.signalEvent(connectionID: s.offer.connectionID, flagNumber: 0, vp: 0)
        }
    }
    guard s.device.done.wait(timeout: .now() + .seconds(60)) == .success else {
        throw BenchError("guest → host \(size) B: only \(s.device.receivedPackets.load(ordering: .relaxed)) of \(packets) packets arrived")
    }
    let elapsed = now() - start
    guard s.device.receivedBytes.load(ordering: .relaxed) == size * packets, s.device.badPayloads.load(ordering: .relaxed) == 0
    else { throw BenchError("guest → host \(size) B: payloads damaged") }
    return RingResult(size: size, packets: packets, nanoseconds: elapsed)
}

/// Host → guest: a host thread sends `packets` in-band packets through `ChannelEndpoint`
/// (retrying after `sendSpaceAvailable` when the ring is full); the guest reads them the way
/// `hv_pkt_iter` does, copying each packet out, and signals the host when pending_send_sz is
/// crossed.
func hostToGuest(_ s: Setup, ring: BenchRing, size: Int, packets: Int) throws -> RingResult {
    guard let endpoint = s.device.endpoint.withLock({ $0 }) else { throw BenchError("channel not open") }
    let payload = BenchPattern.payload(size)
    while s.synic.events.wait(timeout: .now()) == .success {}
    let senderDone = DispatchSemaphore(value: 0)
    let device = s.device
    let start = now()
    DispatchQueue.global().async {
        var i = 0
        while i < packets {
            do throws(ChannelError) {
                try endpoint.sendInband(payload, transactionID: UInt64(i))
                i += 1
            } catch .ringFull {
                // A timeout too: the guest may free space between the host's check and its
                // pending_send_sz store, and then nobody signals.
                _ = device.space.wait(timeout: .now() + .milliseconds(1))
            } catch {
                break
            }
        }
        senderDone.signal()
    }
    var read = ring.readIndex
    var received = 0, receivedBytes = 0, bad = 0
    while received < packets {
        let batchStart = read
        var batch = 0
        while batch < 64 {
            let w = ring.writeIndex
            let available = w >= read ? w - read : ring.dataSize - read + w
            if available < 24 { break }
            let descriptor = Bytes(try ring.copyOut(16, at: read))
            let length = Int(descriptor.u16(4)) * 8, offset = Int(descriptor.u16(2)) * 8
            guard length >= 16, offset >= 16, offset <= length, length + 8 <= available else {
                throw BenchError("host → guest \(size) B: bad packet at \(read)")
            }
            let whole = try ring.copyOut(length, at: read)
            let body = whole[offset...]
            if body.first != BenchPattern.first { bad += 1 }
            receivedBytes += min(size, body.count)
            read = (read + length + 8) % ring.dataSize
            received += 1
            batch += 1
        }
        if batch == 0 {
            if ring.pendingSendSize != 0 { _ = s.host.signalEvent(connectionID: s.offer.connectionID, flagNumber: 0, vp: 0) }
            _ = s.synic.events.wait(timeout: .now() + .milliseconds(1))
            continue
        }
        GuestMemory.fence()
        ring.setReadIndex(read)
        GuestMemory.fence()
        let pending = ring.pendingSendSize
        if pending != 0 {
            let free = ring.bytesToWrite()
            let freed = read >= batchStart ? read - batchStart : ring.dataSize - batchStart + read
            if free > pending && free - freed <= pending {
                _ = s.host.signalEvent(connectionID: s.offer.connectionID, flagNumber: 0, vp: 0)
            }
        }
    }
    let elapsed = now() - start
    senderDone.wait()
    guard bad == 0, receivedBytes == size * packets else { throw BenchError("host → guest \(size) B: payloads damaged") }
    return RingResult(size: size, packets: packets, nanoseconds: elapsed)
}

/// The physical limit: one `memcpy` of each packet's payload into a ring-sized buffer, wrapping.
func memcpyBaseline(size: Int, packets: Int, ringSize: Int) -> RingResult {
    let source = BenchPattern.payload(size)
    var ringBuffer = [UInt8](repeating: 0, count: ringSize)
    var offset = 0
    let start = now()
    // The only raw pointers in the bench: the baseline must be the C library's memcpy itself.
    source.withUnsafeBytes { src in
        ringBuffer.withUnsafeMutableBytes { dst in
            guard let s = src.baseAddress, let d = dst.baseAddress else { return }
            for _ in 0..<packets {
                if offset + size > ringSize { offset = 0 }
                memcpy(d + offset, s, size)
                offset += (size + 7) & ~7
            }
        }
    }
    let elapsed = now() - start
    // Keep the copies observable.
    if ringBuffer[0] == 0x42 && ringBuffer[ringSize - 1] == 0x42 { print("") }
    return RingResult(size: size, packets: packets, nanoseconds: max(elapsed, 1))
}

func fmt(_ v: Double, _ decimals: Int) -> String {
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let r = (v * p).rounded() / p
    var s = String(r)
    if let dot = s.firstIndex(of: ".") {
        let have = s.distance(from: dot, to: s.endIndex) - 1
        if have < decimals { s += String(repeating: "0", count: decimals - have) }
    }
    return s
}

func main() -> Int32 {
    if CommandLine.arguments.dropFirst().first == "netvsc" {
        do {
            try netvscBenchmarks(scale: CommandLine.arguments.dropFirst(2).first.flatMap { Double($0) } ?? 1)
            return 0
        } catch {
            print("vmbus-bench netvsc: error: \(error)")
            return 1
        }
    }
    let scale = CommandLine.arguments.dropFirst().first.flatMap { Double($0) } ?? 1
    let ringDataPages = 64
    let ringSize = ringDataPages * 4096
    print("# vmbus-bench: host VMBusHost + in-process guest driver over heap-backed guest RAM")
    print("# rings: \(ringDataPages) data pages (\(ringSize / 1024) KiB) each way; best of 3 runs per row; scale \(scale)")
    do {
        print("")
        print("| channel message round trip | round trips/s | guest messages/s | us/round trip |")
        print("|---|---|---|---|")
        for r in try messageBenchmarks(scale: scale) {
            let secs = Double(r.nanoseconds) / 1e9
            print(
                "| \(r.name) | \(Int(Double(r.roundTrips) / secs)) | \(Int(Double(r.messages) / secs)) | "
                    + "\(fmt(Double(r.nanoseconds) / 1000 / Double(r.roundTrips), 2)) |")
        }

        let s = try Setup()
        let (outbound, inbound) = try s.guest.open(s.offer, ringDataPages: ringDataPages)
        print("")
        print("| payload | direction | packets/s | GB/s (payload) | memcpy GB/s | ring / memcpy | memcpy is ×faster |")
        print("|---|---|---|---|---|---|---|")
        for size in [64, 256, 1024, 4096, 16384] {
            let packets = min(max(Int(Double(256 << 20) * scale) / size, 20_000), Int(400_000 * scale) + 1000)
            func best(_ f: () throws -> RingResult) rethrows -> RingResult {
                var b = try f()
                for _ in 0..<2 {
                    let r = try f()
                    if r.nanoseconds < b.nanoseconds { b = r }
                }
                return b
            }
            let copy = best { memcpyBaseline(size: size, packets: packets, ringSize: ringSize) }
            let g2h = try best { try guestToHost(s, ring: outbound, size: size, packets: packets) }
            let h2g = try best { try hostToGuest(s, ring: inbound, size: size, packets: packets) }
            for (name, r) in [("guest → host", g2h), ("host → guest", h2g)] {
                print(
                    "| \(size) B | \(name) | \(Int(Double(r.packets) / (Double(r.nanoseconds) / 1e9))) | "
                        + "\(fmt(r.gbps, 3)) | \(fmt(copy.gbps, 2)) | \(fmt(r.gbps / copy.gbps, 5)) | "
                        + "\(Int((copy.gbps / r.gbps).rounded())) |")
            }
        }
        print("")
        print("host → guest events signalled: \(s.synic.eventCount.load(ordering: .relaxed))")
        return 0
    } catch {
        print("vmbus-bench: error: \(error)")
        return 1
    }
}

exit(main())
