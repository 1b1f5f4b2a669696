import Dispatch
import Logging
import Synchronization
import VMBus

#if canImport(Glibc)
    import Glibc
#endif

/// `ictimesync` flags.
public struct TimeSyncFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `ICTIMESYNCFLAG_SYNC`: the guest sets its clock.
    public static let sync = Self(rawValue: 1)
    /// `ICTIMESYNCFLAG_SAMPLE`: a sample for the PTP clock / chrony.
    public static let sample = Self(rawValue: 2)
}

/// Where time samples come from: host wall time and the guest's reference time.
public struct TimeSyncClock: Sendable {
    /// Host wall time as Windows FILETIME (100 ns units since 1601-01-01).
    public var hostTime: @Sendable () -> UInt64
    /// The guest's partition reference time (TIME_REF_COUNT, 100 ns units).
    public var referenceTime: @Sendable () -> UInt64

    public init(hostTime: @escaping @Sendable () -> UInt64, referenceTime: @escaping @Sendable () -> UInt64) {
        self.hostTime = hostTime
        self.referenceTime = referenceTime
    }

    /// 100 ns units between 1601-01-01 and 1970-01-01 (`WLTIMEDELTA`).
    public static let unixEpochAsFileTime: UInt64 = 116_444_736_000_000_000

    /// The host's real-time clock; `referenceTime` must come from the partition's reference counter.
    public static func system(referenceTime: @escaping @Sendable () -> UInt64) -> Self {
        Self(
            hostTime: {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                return unixEpochAsFileTime + UInt64(now.tv_sec) * 10_000_000 + UInt64(now.tv_nsec) / 100
            }, referenceTime: referenceTime)
    }
}

/// The time-synchronization integration service (`9527e630-…`).
///
/// Version 4 sends `ictimesync_ref_data { u64 parenttime; u64 vmreferencetime; u8 flags;
/// char leapflags; char stratum; u8 reserved[3]; }` (22 bytes); older versions send
/// `ictimesync_data { u64 parenttime; u64 childtime; u64 roundtriptime; u8 flags; }` (25 bytes).
/// A SYNC sample goes out as soon as negotiation completes; more on request.
///
/// ## Concurrency model
/// Device callbacks on the host's device queue; `sendSample` from any thread.
public final class TimeSyncService: VMBusDevice {
    public static let messageVersions = [ICVersion(1, 0), ICVersion(3, 0), ICVersion(4, 0)]

    public let offer: ChannelOfferInfo
    let engine: ICEngine
    let clock: TimeSyncClock
    let answered = Mutex(0)

    public init(
        clock: TimeSyncClock, instanceID: GUID = ICGUIDs.timeSyncInstance,
        logger: Logger = Logger(label: "swifthv.ic.timesync")
    ) {
        offer = ICLayout.offer(classID: ICGUIDs.timeSyncClass, instanceID: instanceID)
        self.clock = clock
        engine = ICEngine(name: "timesync", messageVersions: Self.messageVersions, logger: logger)
    }

    /// The negotiated service version, once negotiated.
    public var negotiatedVersion: ICVersion? { engine.negotiated?.message }

    /// Samples the guest has acknowledged.
    public var acknowledgedSamples: Int { answered.withLock { $0 } }

    /// Sends a time sample with the host's time now.
    /// - Throws: `ICError.notNegotiated` when the guest's timesync service is not running.
    public func sendSample(flags: TimeSyncFlags = .sample) throws(ICError) {
        guard let version = engine.negotiated?.message else { throw .notNegotiated }
        let host = clock.hostTime()
        if version.major >= 4 {
            var data = WireWriter(size: 22)
            data.store(host, at: 0)
            data.store(clock.referenceTime(), at: 8)
            data.store(flags.rawValue, at: 16)
            try engine.send(.timeSync, data: data.bytes)
        } else {
            var data = WireWriter(size: 25)
            data.store(host, at: 0)
            data.store(flags.rawValue, at: 24)
            try engine.send(.timeSync, data: data.bytes)
        }
    }

    public func opened(channel: ChannelEndpoint) { engine.opened(channel) }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        switch engine.handle(packet) {
        case .negotiated:
            do { try sendSample(flags: .sync) } catch { engine.logger.debug("timesync: first sample not sent: \(error)") }
        case .response(let header, _):
            if header.messageType == .timeSync { answered.withLock { $0 += 1 } }
        case .negotiationFailed, nil:
            return
        }
    }

    public func closed(channel: ChannelEndpoint) { engine.closed() }
}
