/// Counters of one network adapter, as the host sees them: rx is host → guest, tx guest → host.
public struct NetworkAdapterStatistics: Sendable, Hashable, Codable {
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    /// Frames for the guest dropped: no free receive section, ring full, guest not ready, too big.
    public var rxDrops: UInt64 = 0
    /// Frames for the guest the packet filter did not pass (not an error).
    public var rxFiltered: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    /// Frames from the guest the backend refused or that were malformed.
    public var txDrops: UInt64 = 0
    /// Guest messages rejected as malformed or hostile (bad offsets, lengths, sections, PFNs).
    public var protocolErrors: UInt64 = 0

    public init() {}
}

/// A snapshot of one adapter for status reports.
public struct NetworkAdapterStatus: Sendable, Hashable {
    /// "xx:xx:xx:xx:xx:xx".
    public var macAddress: String
    /// The backend's name (the TAP interface).
    public var backend: String
    /// The negotiated NVSP version, once the guest initialised the channel.
    public var nvspVersion: UInt32?
    /// True once the guest initialised RNDIS and set a receive filter (its interface is up).
    public var linkUp: Bool
    public var statistics: NetworkAdapterStatistics
}
