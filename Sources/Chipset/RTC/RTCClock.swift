#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in wall-clock time: seconds and nanoseconds since the Unix epoch (UTC).
public struct RTCTimestamp: Sendable, Hashable {
    public var seconds: Int64
    public var nanoseconds: Int32
    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }
}

/// The time source behind the CMOS RTC; injected so tests control time.
public protocol RTCClock: Sendable {
    func now() -> RTCTimestamp
}

/// The host's wall clock (`CLOCK_REALTIME`).
public struct HostWallClock: RTCClock {
    public init() {}
    public func now() -> RTCTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return RTCTimestamp(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }
}
