/// Limits and choices of a `VMBusHost`. Every size a guest controls has a cap here.
public struct VMBusHostConfiguration: Sendable {
    /// The highest protocol version accepted; 5.3 by default (MODIFYCHANNEL_RESPONSE is supported).
    public var maxVersion: VMBusVersion
    /// Number of virtual processors: target VPs at or above it are refused.
    public var vpCount: UInt32
    /// Most channels (offered devices) at once.
    public var maxChannels: Int
    /// Most GPADLs created at once.
    public var maxGPADLs: Int
    /// Most GPADLs whose bodies are still arriving.
    public var maxPendingGPADLs: Int
    /// Most pages in one GPADL. The 16-bit `range_buflen` already caps it near 8190.
    public var maxGPADLPages: Int

    public init(
        maxVersion: VMBusVersion = .win10_v5_3, vpCount: UInt32 = 1, maxChannels: Int = 256, maxGPADLs: Int = 1024,
        maxPendingGPADLs: Int = 32, maxGPADLPages: Int = 8192
    ) {
        self.maxVersion = maxVersion
        self.vpCount = vpCount
        self.maxChannels = maxChannels
        self.maxGPADLs = maxGPADLs
        self.maxPendingGPADLs = maxPendingGPADLs
        self.maxGPADLPages = maxGPADLPages
    }

    /// Versions the host accepts, newest first (WIN8 2.4 through WIN10 5.3).
    public var supportedVersions: [VMBusVersion] {
        [.win10_v5_3, .win10_v5_2, .win10_v5_1, .win10_v5, .win10_v4_1, .win10, .win8_1, .win8]
            .filter { $0 <= maxVersion }
    }
}

/// Why the host refused a management request from the VMM.
public enum VMBusHostError: Error, Equatable, Sendable {
    /// `maxChannels` reached or no relid free.
    case tooManyChannels
    /// No channel has that relid, or it is already rescinded.
    case noSuchChannel(UInt32)
}

/// A channel's life cycle as the host sees it.
public enum ChannelPhase: Sendable, Equatable {
    /// Registered; offered to the guest once it asks for offers.
    case offered
    /// The guest opened it.
    case open
    /// Rescinded; waiting for the guest's RELID_RELEASED (the channel may stay open until the
    /// guest closes it).
    case rescinded
}
