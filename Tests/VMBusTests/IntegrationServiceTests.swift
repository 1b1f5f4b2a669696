import GuestMemory
import HyperV
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport

@Suite struct IntegrationServiceTests {
    /// Connects, opens the single offered device and wraps it in a guest util service.
    func open(_ h: Harness, versions: [(UInt16, UInt16)]) throws -> GuestUtilService {
        let offer = try #require(h.connect().first)
        let channel = try #require(h.guest.open(offer: offer, sendPages: 4, receivePages: 4).0)
        h.host.waitForIdle()
        return GuestUtilService(channel: channel, serviceVersions: versions)
    }

    /// Lets the host and guest exchange until quiet.
    func pump(_ h: Harness, _ guest: GuestUtilService, rounds: Int = 4) {
        for _ in 0..<rounds {
            h.host.waitForIdle()
            guest.poll()
        }
        h.host.waitForIdle()
    }

    @Test func heartbeatNegotiatesAndTracksTheSequence() throws {
        let h = Harness()
        let heartbeat = HeartbeatService(interval: nil)
        try h.host.addDevice(heartbeat)
        #expect(heartbeat.status == .unknown)
        let guest = try open(h, versions: [(3, 0), (1, 0)])
        guest.handler = { type, buf in
            if type == GuestIC.heartbeat, buf.data.count >= GuestIC.icmsgHdr + 40 {
                buf.put(buf.u64(GuestIC.icmsgHdr) + 1, at: GuestIC.icmsgHdr)
            } else {
                buf.put(GuestIC.hvEFail, at: 8 + 12)
            }
        }
        pump(h, guest)
        // The negotiate request offered framework 1.0/3.0 and heartbeat 1.0/3.0; Linux picks 3.0/3.0.
        let negotiate = try #require(guest.received.first)
        #expect(negotiate.u16(12) == 0 && negotiate.u32(0) == 1)  // icmsgtype negotiate, pipe flags DATA
        #expect(guest.negotiated.map { [$0.fw.0, $0.fw.1, $0.srv.0, $0.srv.1] } == [3, 0, 3, 0])
        #expect(heartbeat.status == .healthy(sequence: 2))
        heartbeat.tick()
        pump(h, guest)
        #expect(heartbeat.status == .healthy(sequence: 3))
        // The guest hangs: three heartbeats go unanswered (each counted at the next tick).
        guest.answering = false
        for tick in 0..<4 {
            #expect(heartbeat.status != .lost, "lost too early at tick \(tick)")
            heartbeat.tick()
            pump(h, guest)
        }
        #expect(heartbeat.status == .lost)
        h.guest.close(relid: guest.channel.relid)
        h.host.waitForIdle()
        #expect(heartbeat.status == .unknown)
    }

    @Test func heartbeatTimerTicksByItself() throws {
        let h = Harness()
        let heartbeat = HeartbeatService(interval: .milliseconds(5))
        try h.host.addDevice(heartbeat)
        let guest = try open(h, versions: [(3, 0)])
        guest.handler = { _, buf in buf.put(buf.u64(GuestIC.icmsgHdr) + 1, at: GuestIC.icmsgHdr) }
        var sequence: UInt64 = 0
        for _ in 0..<200 where sequence < 5 {
            pump(h, guest, rounds: 1)
            if case .healthy(let s) = heartbeat.status { sequence = s }
            usleepMilliseconds(2)
        }
        #expect(sequence >= 5)
    }

    @Test func shutdownRequestIsDeliveredAndAccepted() throws {
        let h = Harness()
        let shutdown = ShutdownService()
        try h.host.addDevice(shutdown)
        #expect(throws: ICError.notNegotiated) { try shutdown.requestShutdown() }
        let guest = try open(h, versions: [(3, 2), (3, 1), (3, 0), (1, 0)])
        var flagsSeen: [UInt32] = []
        guest.handler = { type, buf in
            // shutdown_onchannelcallback: flags 0/1 power off, 2/3 reboot, else HV_E_FAIL.
            guard type == GuestIC.shutdown, buf.data.count >= GuestIC.icmsgHdr + 2060 else {
                buf.put(GuestIC.hvEFail, at: 8 + 12)
                return
            }
            let flags = buf.u32(GuestIC.icmsgHdr + 8)
            flagsSeen.append(flags)
            buf.put(flags <= 3 ? UInt32(0) : GuestIC.hvEFail, at: 8 + 12)
        }
        pump(h, guest)
        #expect(shutdown.status == .ready)
        #expect(guest.negotiated.map { [$0.srv.0, $0.srv.1] } == [3, 2])
        try shutdown.requestShutdown(.reboot)
        #expect(shutdown.status == .requested(.reboot))
        pump(h, guest)
        #expect(flagsSeen == [2])
        #expect(shutdown.status == .accepted(.reboot))
        try shutdown.requestShutdown(ShutdownKind(rawValue: 9))
        pump(h, guest)
        #expect(shutdown.status == .refused(status: GuestIC.hvEFail))
    }

    @Test func timeSyncSendsReferenceSamplesAtV4() throws {
        let h = Harness()
        let clock = TimeSyncClock(hostTime: { 133_000_000_000_000_000 }, referenceTime: { 42_000 })
        let timesync = TimeSyncService(clock: clock)
        try h.host.addDevice(timesync)
        let guest = try open(h, versions: [(4, 0), (3, 0), (1, 0)])
        var samples: [(parent: UInt64, ref: UInt64, flags: UInt8)] = []
        guest.handler = { type, buf in
            guard type == GuestIC.timesync else { return }
            let d = GuestIC.icmsgHdr
            samples.append((buf.u64(d), buf.u64(d + 8), buf.u8(d + 16)))
        }
        pump(h, guest)
        #expect(timesync.negotiatedVersion == ICVersion(4, 0))
        try timesync.sendSample()
        pump(h, guest)
        #expect(samples.count == 2)
        #expect(samples.first.map { [$0.parent, $0.ref, UInt64($0.flags)] } == [133_000_000_000_000_000, 42_000, 1])  // SYNC
        #expect(samples.last?.flags == 2)  // SAMPLE
        #expect(timesync.acknowledgedSamples == 2)
    }

    @Test func timeSyncUsesTheOldLayoutBeforeV4() throws {
        let h = Harness()
        let timesync = TimeSyncService(clock: .system(referenceTime: { 0 }))
        try h.host.addDevice(timesync)
        let guest = try open(h, versions: [(3, 0), (1, 0)])
        var sample: (parent: UInt64, flags: UInt8)?
        guest.handler = { type, buf in
            if type == GuestIC.timesync { sample = (buf.u64(GuestIC.icmsgHdr), buf.u8(GuestIC.icmsgHdr + 24)) }
        }
        pump(h, guest)
        #expect(timesync.negotiatedVersion == ICVersion(3, 0))
        let parent = try #require(sample?.parent)
        // parenttime is FILETIME: after 2020-01-01 (132223104000000000).
        #expect(parent > 132_223_104_000_000_000)
        #expect(sample?.flags == 1)
    }

    @Test func failedNegotiationLeavesTheServiceUnavailable() throws {
        let h = Harness()
        let shutdown = ShutdownService()
        try h.host.addDevice(shutdown)
        let guest = try open(h, versions: [(9, 9)])
        pump(h, guest)
        #expect(guest.negotiated == nil)
        #expect(shutdown.status == .unavailable)
        #expect(throws: ICError.notNegotiated) { try shutdown.requestShutdown() }
    }

    @Test func kvpWithoutDaemonStaysSilentAndOptional() throws {
        let h = Harness()
        let kvp = KeyValueExchangeService()
        try h.host.addDevice(kvp)
        let guest = try open(h, versions: [(4, 0), (3, 0), (1, 0)])
        guest.answering = false
        pump(h, guest)
        #expect(guest.received.count == 1)  // the negotiate request, unanswered
        #expect(!kvp.isNegotiated)
        #expect(throws: ICError.notNegotiated) { try kvp.push(key: "a", value: "b") }
    }

    @Test func kvpPushesKeysAndReadsGuestPools() throws {
        let h = Harness()
        let kvp = KeyValueExchangeService()
        try h.host.addDevice(kvp)
        let guest = try open(h, versions: [(4, 0), (3, 0), (1, 0)])
        // The daemon's pools.
        var external: [String: String] = [:]
        let auto = [("OSName", "Debian GNU/Linux"), ("FullyQualifiedDomainName", "guest.example")]
        guest.handler = { type, buf in
            guard type == GuestIC.kvp else { return }
            let m = GuestIC.icmsgHdr
            let op = buf.u8(m), pool = buf.u8(m + 1)
            switch op {
            case 1:  // KVP_OP_SET: key/value at body.kvp_set.data
                let rec = m + 4
                let keySize = Int(buf.u32(rec + 4)), valueSize = Int(buf.u32(rec + 8))
                let key = utf16String(buf.data[(rec + 12)..<(rec + 12 + keySize)])
                let value = utf16String(buf.data[(rec + 12 + 512)..<(rec + 12 + 512 + valueSize)])
                if pool == 0 { external[key] = value }
            case 3:  // KVP_OP_ENUMERATE: u32 index, then the record
                let index = Int(buf.u32(m + 4))
                let rec = m + 8
                guard pool == 2, index < auto.count else {
                    buf.put(UInt32(0x8007_0103), at: 8 + 12)  // HV_S_CONT: no more
                    return
                }
                let key = utf16Bytes(auto[index].0), value = utf16Bytes(auto[index].1)
                buf.put(UInt32(1), at: rec)  // REG_SZ
                buf.put(UInt32(key.count), at: rec + 4)
                buf.put(UInt32(value.count), at: rec + 8)
                buf.put(bytes: key, at: rec + 12)
                buf.put(bytes: value, at: rec + 12 + 512)
            default:
                buf.put(GuestIC.hvEFail, at: 8 + 12)
            }
        }
        pump(h, guest)
        #expect(kvp.isNegotiated)
        #expect(guest.negotiated.map { [$0.srv.0, $0.srv.1] } == [4, 0])
        try kvp.push(key: "VirtualMachineName", value: "débian-ünïcode")
        try kvp.enumerate(pool: .auto)
        for _ in 0..<10 where !kvp.isIdle { pump(h, guest) }
        #expect(external == ["VirtualMachineName": "débian-ünïcode"])
        #expect(kvp.guestValues(pool: .auto) == ["OSName": "Debian GNU/Linux", "FullyQualifiedDomainName": "guest.example"])
        #expect(kvp.failedRequests == 0)
        // Packets fit Linux's 4 KiB receive buffer.
        #expect(guest.received.allSatisfy { $0.data.count <= 4096 - 16 })
        #expect(throws: ICError.self) { try kvp.push(key: String(repeating: "k", count: 300), value: "") }
    }

    @Test func enabledServicesAreOfferedWithTheirClassGUIDs() throws {
        let h = Harness()
        let services = try IntegrationServices(
            configuration: .init(heartbeat: true, shutdown: true, timeSync: false, keyValueExchange: false, heartbeatInterval: nil),
            clock: .system(referenceTime: { 0 }), host: h.host)
        #expect(services.timeSync == nil && services.keyValueExchange == nil)
        let offers = h.connect()
        #expect(
            Set(offers.map(\.ifType))
                == [guidBytes("0e0b6031-5213-4934-818b-38d90ced39db"), guidBytes("57164f39-9115-4e78-ab55-382f3bd5422d")])
    }
}

#if canImport(Glibc)
    import Glibc
#endif

func usleepMilliseconds(_ ms: UInt32) { usleep(ms * 1000) }
