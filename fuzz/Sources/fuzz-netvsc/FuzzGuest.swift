import GuestMemory
import HyperV
import Logging
import SyntheticDevices
import VMBus

// A minimal guest for fuzz-netvsc: just enough of Linux's hv_vmbus and hv_netvsc to open the
// adapter's channel and bring NVSP and RNDIS up, then a way to write any packet into the
// guest → host ring. Deterministic: one fresh host and adapter per input over zeroed memory,
// every step waited for with `waitForIdle`. Setup uses the host's own packet layout helpers: the
// unit tests check those against the spec; here they only have to be right enough to get in.

/// The SynIC: replies are not needed (the guest checks the host's state instead).
struct SilentPort: SynICMessagePort {
    func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {}
    func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {}
}

/// Little-endian message building.
struct Bytes {
    var data: [UInt8]
    init(count: Int) { data = [UInt8](repeating: 0, count: count) }
    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        if data.count < offset + size { data += [UInt8](repeating: 0, count: offset + size - data.count) }
        for i in 0..<size { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
    mutating func put(bytes: [UInt8], at offset: Int) {
        if data.count < offset + bytes.count { data += [UInt8](repeating: 0, count: offset + bytes.count - data.count) }
        data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
    }
    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        guard offset >= 0, offset + 4 <= bytes.count else { return 0 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}

/// One ring as the guest sees it: a header page, then data pages (followed page by page).
struct Ring {
    let memory: GuestMemory
    let pages: [UInt64]
    var dataSize: Int { (pages.count - 1) * 4096 }

    private func header(_ offset: UInt64) -> GuestPhysicalAddress { GuestPhysicalAddress(pages[0] << 12 | offset) }
    func field(_ offset: UInt64) -> UInt32 { (try? memory.atomicLoad32(at: header(offset))) ?? 0 }
    func setField(_ offset: UInt64, _ value: UInt32) { try? memory.atomicStore32(value, at: header(offset)) }

    private func address(_ offset: Int) -> GuestPhysicalAddress {
        let o = offset % dataSize
        return GuestPhysicalAddress(pages[1 + o / 4096] << 12 | UInt64(o % 4096))
    }
    func copyIn(_ bytes: [UInt8], at offset: Int) {
        var done = 0
        while done < bytes.count {
            let o = (offset + done) % dataSize
            let chunk = min(bytes.count - done, 4096 - o % 4096)
            try? memory.write(bytes[done..<(done + chunk)], at: address(o))
            done += chunk
        }
    }
    func copyOut(_ count: Int, at offset: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < count {
            let o = (offset + bytes.count) % dataSize
            let chunk = min(count - bytes.count, 4096 - o % 4096)
            bytes += (try? memory.read(at: address(o), count: chunk)) ?? [UInt8](repeating: 0, count: chunk)
        }
        return bytes
    }
}

/// The host side, made once per process: a VMBusHost with one NetworkAdapter. Each input
/// connects and ends with UNLOAD (channel closed, GPADLs dropped, the adapter's protocol state
/// cleared on close), as a guest kernel that loads and unloads hv_vmbus would. A fresh host per
/// input would be cleaner, but its dispatch queue and objects die after the input returns, and
/// libFuzzer reruns the input and scans the heap with LeakSanitizer after every input whose
/// mallocs and frees differ (most of the time went there when each input made its own host).
final class FuzzHost {
    let memory: GuestMemory
    let host: VMBusHost
    let backend = InMemoryPacketBackend(keepFrames: false)
    let adapter: NetworkAdapter
    let relID: UInt32

    init(memory: GuestMemory) {
        self.memory = memory
        let host = VMBusHost(
            memory: memory, port: SilentPort(), configuration: VMBusHostConfiguration(vpCount: 1), logger: FuzzGuest.logger)
        self.host = host
        adapter = NetworkAdapter(
            macAddress: FuzzGuest.mac, instanceID: GUID(wireBytes: [UInt8](repeating: 7, count: 16)), backend: backend,
            gpadlLookup: { [weak host] handle in host?.gpadl(handle) }, logger: FuzzGuest.logger)
        do { relID = try host.addDevice(adapter) } catch { preconditionFailure("addDevice: \(error)") }
    }
}

/// The guest: VMBus connection, the adapter's channel, netvsc's buffers.
final class FuzzGuest {
    static let mac: [UInt8] = [0x00, 0x15, 0x5D, 0x12, 0x34, 0x56]
    /// Guest → host ring pages (header included); the host → guest ring is the smallest there
    /// is (one data page), so a guest that stops reading fills it within a few dozen packets.
    static let ringPages = 4
    static let inboundRingPages = 2
    static let receivePages = 16
    static let sendPages = 4
    static let scratchPages = 24
    /// Silent: `machine` is made before `runFuzzer` bootstraps the no-op logging system.
    static let logger = Logger(label: "fuzz-netvsc", factory: { _ in SwiftLogNoOpLogHandler() })

    let memory: GuestMemory
    let host: VMBusHost
    let backend: InMemoryPacketBackend
    let adapter: NetworkAdapter
    let relID: UInt32
    private var nextPage: UInt64 = 0x10
    private var nextGPADL: UInt32 = 0xE1E10
    private var nextTransaction: UInt64 = 1
    private var ringGPADL: UInt32 = 0
    private var ringPageList: [UInt64] = []
    var outbound: Ring
    var inbound: Ring
    var receiveGPADL: UInt32 = 0
    var sendGPADL: UInt32 = 0
    var sendPageList: [UInt64] = []
    /// Pages for GPA-direct RNDIS messages.
    var scratch: [UInt64] = []
    /// Whether received transfer-page packets are completed as soon as they are read.
    var autoComplete = true
    /// Whether the guest reads the host → guest ring at all.
    var reading = true
    /// Transfer-page transactions read but not completed yet.
    var held: [UInt64] = []

    /// Connects, opens the adapter's channel and runs Linux's
    /// NVSP and RNDIS bring-up, over zeroed memory.
    init(_ machine: FuzzHost) {
        memory = machine.memory
        host = machine.host
        backend = machine.backend
        adapter = machine.adapter
        relID = machine.relID
        outbound = Ring(memory: memory, pages: [0])
        inbound = Ring(memory: memory, pages: [0])

        // vmbus_negotiate_version (5.2 on connection 4, SINT 2), then REQUESTOFFERS.
        var contact = Bytes(count: 40)
        contact.put(UInt32(14), at: 0)
        contact.put(UInt32(5 << 16 | 2), at: 8)
        contact.put(UInt8(2), at: 16)
        _ = host.postMessage(connectionID: 4, messageType: 1, payload: contact.data, vp: 0)
        // The old channel is closed now; once its queue is idle, nothing reads the old pages.
        host.waitForIdle()
        try? memory.fill(at: GuestPhysicalAddress(0), count: Int(memory.totalSize))
        var offers = Bytes(count: 8)
        offers.put(UInt32(3), at: 0)
        post(offers.data)

        ringPageList = allocate(Self.ringPages + Self.inboundRingPages)
        ringGPADL = createGPADL(ringPageList)
        open()
        precondition(host.phase(of: relID) == .open, "fuzz-netvsc: channel did not open")

        // netvsc_connect_vsp as Linux 6.1 runs it.
        // The host does not care that Linux waits for each completion, so the whole sequence goes
        // in one batch (each wait is a thread handoff, the bulk of the time per input).
        receiveGPADL = createGPADL(scattered(allocate(Self.receivePages)))
        sendPageList = scattered(allocate(Self.sendPages))
        sendGPADL = createGPADL(sendPageList)
        scratch = allocate(Self.scratchPages)
        nvsp([(0, 1), (4, 0x60001), (8, 0x60001)], settle: false)
        nvsp([(0, 125), (4, 1514), (12, 1)], completion: false, settle: false)
        nvsp([(0, 100), (4, 6), (8, 30)], completion: false, settle: false)
        nvsp([(0, 101), (4, receiveGPADL), (8, 0xCAFE)], settle: false)
        nvsp([(0, 104), (4, sendGPADL)], settle: false)
        // rndis_filter_device_add + open: INITIALIZE by GPA direct, the packet filter by the
        // send buffer.
        sendRNDISDirect(RNDISTemplates.initialize, start: 200, channelType: 1, settle: false)
        sendRNDISSection(RNDISTemplates.setFilter, section: 0, channelType: 1, settle: false)
        settle()
        precondition(adapter.status.linkUp, "fuzz-netvsc: RNDIS did not come up")
    }

    // MARK: VMBus

    private func post(_ bytes: [UInt8]) { _ = host.postMessage(connectionID: 1, messageType: 1, payload: bytes, vp: 0) }

    func allocate(_ count: Int) -> [UInt64] {
        defer { nextPage += UInt64(count) }
        precondition(nextPage + UInt64(count) <= memory.totalSize / 4096, "fuzz guest out of memory")
        return (0..<UInt64(count)).map { nextPage + $0 }
    }

    /// Swaps neighbours: buffers the host must walk page by page.
    private func scattered(_ pages: [UInt64]) -> [UInt64] {
        var pages = pages
        var i = 0
        while i + 1 < pages.count {
            pages.swapAt(i, i + 1)
            i += 2
        }
        return pages
    }

    /// GPADL_HEADER (+ BODY) with one range over `pages` (at most 26 + 28 per body): the whole
    /// pages unless `byteCount`/`byteOffset` say otherwise. Stops the fuzzer if a whole-page
    /// GPADL is refused (the harness would be wrong, not the host).
    @discardableResult
    func createGPADL(_ pages: [UInt64], byteCount: UInt32? = nil, byteOffset: UInt32 = 0) -> UInt32 {
        let handle = nextGPADL
        nextGPADL += 1
        let inHeader = min(pages.count, 26)
        var header = Bytes(count: 28 + 8 * inHeader)
        header.put(UInt32(8), at: 0)
        header.put(relID, at: 8)
        header.put(handle, at: 12)
        header.put(UInt16(8 + 8 * pages.count), at: 16)
        header.put(UInt16(1), at: 18)
        header.put(byteCount ?? UInt32(pages.count * 4096), at: 20)
        header.put(byteOffset, at: 24)
        for i in 0..<inHeader { header.put(pages[i], at: 28 + 8 * i) }
        post(header.data)
        var sent = inHeader
        while sent < pages.count {
            let n = min(28, pages.count - sent)
            var body = Bytes(count: 16 + 8 * n)
            body.put(UInt32(9), at: 0)
            body.put(handle, at: 12)
            for i in 0..<n { body.put(pages[sent + i], at: 16 + 8 * i) }
            post(body.data)
            sent += n
        }
        precondition(byteCount != nil || host.gpadl(handle) != nil, "fuzz-netvsc: GPADL refused")
        return handle
    }

    /// Revokes the receive or send buffer and offers one in a GPADL shaped by `shape`
    /// (`u32 byte_count, u32 byte_offset, page bytes`: page 0x10 + byte), as a guest that
    /// reinitialises its buffers with odd layouts would.
    func replaceBuffer(receive: Bool, shape: [UInt8]) {
        guard shape.count > 8 else { return }
        let pages = shape.dropFirst(8).prefix(80).map { 0x10 + UInt64($0) }
        let handle = createGPADL(pages, byteCount: Bytes.u32(shape, 0), byteOffset: Bytes.u32(shape, 4))
        nvsp([(0, receive ? 103 : 106), (4, receive ? 0xCAFE : 0)], completion: false, settle: false)
        nvsp([(0, receive ? 101 : 104), (4, handle), (8, receive ? 0xCAFE : 0)])
        if receive {
            receiveGPADL = handle
        } else {
            sendGPADL = handle
            sendPageList = pages
        }
    }

    /// UNLOAD: closes the channel and drops every GPADL, so what this input made is freed
    /// within it (libFuzzer runs LeakSanitizer after any input whose mallocs and frees differ).
    func unload() {
        settle()
        var message = Bytes(count: 8)
        message.put(UInt32(16), at: 0)
        post(message.data)
        host.waitForIdle()
    }

    func teardownGPADL(_ handle: UInt32) {
        var message = Bytes(count: 16)
        message.put(UInt32(11), at: 0)
        message.put(relID, at: 8)
        message.put(handle, at: 12)
        post(message.data)
        host.waitForIdle()
    }

    /// Zeroes the rings and sends OPENCHANNEL over the ring GPADL.
    private func open() {
        for page in ringPageList { try? memory.fill(at: GuestPhysicalAddress(page << 12), count: 4096) }
        outbound = Ring(memory: memory, pages: Array(ringPageList[0..<Self.ringPages]))
        inbound = Ring(memory: memory, pages: Array(ringPageList[Self.ringPages...]))
        outbound.setField(64, 1)
        inbound.setField(64, 1)
        held = []
        var message = Bytes(count: 148)
        message.put(UInt32(5), at: 0)
        message.put(relID, at: 8)
        message.put(relID, at: 12)
        message.put(ringGPADL, at: 16)
        message.put(UInt32(Self.ringPages), at: 24)
        post(message.data)
        host.waitForIdle()
    }

    /// CLOSECHANNEL, then open again (netvsc_change_mtu): the adapter starts over.
    func reopen() {
        var message = Bytes(count: 12)
        message.put(UInt32(7), at: 0)
        message.put(relID, at: 8)
        post(message.data)
        host.waitForIdle()
        open()
    }

    // MARK: ring

    /// Writes one packet (descriptor already in `bytes`, length a multiple of 8) and signals.
    /// - Returns: false when the ring has no room.
    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        let total = bytes.count + 8
        let write = Int(outbound.field(0)), read = Int(outbound.field(4))
        let free = write >= read ? outbound.dataSize - (write - read) : read - write
        guard write < outbound.dataSize, free > total else { return false }
        var trailer = Bytes(count: 8)
        trailer.put(UInt64(write) << 32, at: 0)
        outbound.copyIn(bytes + trailer.data, at: write)
        outbound.setField(0, UInt32((write + total) % outbound.dataSize))
        _ = host.signalEvent(connectionID: VMBusHost.channelConnectionIDBase + relID, flagNumber: 0, vp: 0)
        return true
    }

    func transaction() -> UInt64 {
        defer { nextTransaction += 1 }
        return nextTransaction
    }

    func send(
        _ type: VMBusPacketType, completion: Bool = true, transactionID: UInt64? = nil, header: [UInt8] = [],
        payload: [UInt8], settle: Bool = true
    ) {
        var header = header
        header += [UInt8](repeating: 0, count: (8 - header.count % 8) % 8)
        guard
            let bytes = VMBusPacket.layout(
                type: type, flags: completion ? PacketDescriptor.completionRequested : 0,
                transactionID: transactionID ?? transaction(), header: header, payload: payload)
        else { return }
        write(bytes)
        if settle { self.settle() }
    }

    /// Waits for the host, then reads the inbound ring like hv_pkt_iter (completing receive
    /// packets when `autoComplete`), until nothing new arrives (only waits while not `reading`).
    func settle() {
        for _ in 0..<8 {
            host.waitForIdle()
            guard reading else { return }
            var completions: [UInt64] = []
            var read = Int(inbound.field(4))
            while true {
                let write = Int(inbound.field(0))
                let available = write >= read ? write - read : inbound.dataSize - read + write
                guard available >= 24, write < inbound.dataSize else { break }
                let descriptor = inbound.copyOut(16, at: read)
                let length = Int(descriptor[4]) << 3 | Int(descriptor[5]) << 11
                guard length >= 16, length + 8 <= available else { break }
                if descriptor[0] == 7 {
                    let id = (8..<16).reduce(UInt64(0)) { $0 | UInt64(descriptor[$1]) << (8 * ($1 - 8)) }
                    if autoComplete { completions.append(id) } else if held.count < 256 { held.append(id) }
                }
                read = (read + length + 8) % inbound.dataSize
            }
            let moved = read != Int(inbound.field(4))
            inbound.setField(4, UInt32(read))
            for id in completions { complete(id) }
            // Only a host waiting for space (pending_send_sz) needs to hear that we read.
            let hostWaits = moved && inbound.field(12) != 0
            if hostWaits { _ = host.signalEvent(connectionID: VMBusHost.channelConnectionIDBase + relID, flagNumber: 0, vp: 0) }
            if completions.isEmpty && !hostWaits { return }
        }
    }

    /// The guest's receive completion (netvsc_send_recv_completion), without settling.
    func complete(_ transactionID: UInt64, payload: [UInt8]? = nil) {
        var message = Bytes(count: 40)
        message.put(UInt32(108), at: 0)
        message.put(UInt32(1), at: 4)
        guard
            let bytes = VMBusPacket.layout(
                type: .completion, flags: 0, transactionID: transactionID, payload: payload ?? message.data)
        else { return }
        write(bytes)
    }

    // MARK: NVSP and RNDIS

    func nvsp(_ fields: [(Int, UInt32)], completion: Bool = true, settle: Bool = true) {
        var message = Bytes(count: 40)
        for (offset, value) in fields { message.put(value, at: offset) }
        send(.dataInband, completion: completion, payload: message.data, settle: settle)
    }

    /// SEND_RNDIS_PKT naming send-buffer `section` (the message is written there first when the
    /// section is inside the buffer).
    func sendRNDISSection(_ message: [UInt8], section: UInt32, channelType: UInt32, settle: Bool = true) {
        let sectionSize = 6144
        let buffer = sendPageList.count * 4096
        let offset = Int(section) * sectionSize
        if offset < buffer {
            let count = min(message.count, buffer - offset, sectionSize)
            writeSendBuffer(Array(message.prefix(count)), at: offset)
        }
        nvsp([(0, 107), (4, channelType), (8, section), (12, UInt32(message.count))], settle: settle)
    }

    func writeSendBuffer(_ bytes: [UInt8], at offset: Int) {
        var done = 0
        while done < bytes.count, (offset + done) / 4096 < sendPageList.count {
            let o = offset + done
            let chunk = min(bytes.count - done, 4096 - o % 4096)
            try? memory.write(bytes[done..<(done + chunk)], at: GuestPhysicalAddress(sendPageList[o / 4096] << 12 | UInt64(o % 4096)))
            done += chunk
        }
    }

    /// SEND_RNDIS_PKT by GPA direct: the message in scratch pages from `start`, one range per
    /// page as hv_page_buffer does; `prefix` bytes of it go through send-buffer section 0.
    func sendRNDISDirect(_ message: [UInt8], start: Int, channelType: UInt32, prefix: Int = 0, settle: Bool = true) {
        let prefix = min(prefix, message.count, 6144)
        if prefix > 0 { writeSendBuffer(Array(message.prefix(prefix)), at: 0) }
        let rest = Array(message.dropFirst(prefix))
        var header = Bytes(count: 8)
        var ranges = 0
        var done = 0
        var page = 0
        var inPage = start % 4096
        while done < rest.count, page < scratch.count {
            let n = min(rest.count - done, 4096 - inPage)
            try? memory.write(rest[done..<(done + n)], at: GuestPhysicalAddress(scratch[page] << 12 | UInt64(inPage)))
            header.put(UInt32(n), at: header.data.count)
            header.put(UInt32(inPage), at: header.data.count)
            header.put(scratch[page], at: header.data.count)
            ranges += 1
            done += n
            page += 1
            inPage = 0
        }
        header.put(UInt32(ranges), at: 4)
        var nvsp = Bytes(count: 40)
        nvsp.put(UInt32(107), at: 0)
        nvsp.put(channelType, at: 4)
        nvsp.put(prefix > 0 ? 0 : UInt32.max, at: 8)
        nvsp.put(UInt32(prefix), at: 12)
        send(.dataUsingGPADirect, header: header.data, payload: nvsp.data, settle: settle)
    }
}
