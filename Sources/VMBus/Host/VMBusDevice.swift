/// What a channel device tells the host to put in its offer.
public struct ChannelOfferInfo: Sendable, Hashable {
    /// The interface (class) GUID the guest driver matches on.
    public var classID: GUID
    /// The instance GUID naming this device; unique per VM.
    public var instanceID: GUID
    public var channelFlags: VMBusChannelFlags
    public var mmioMegabytes: UInt16
    /// At most 120 bytes.
    public var userDefined: [UInt8]
    /// Largest guest → host packet the device accepts (descriptor included).
    public var maxIncomingPacketSize: Int

    public init(
        classID: GUID, instanceID: GUID, channelFlags: VMBusChannelFlags = [], mmioMegabytes: UInt16 = 0,
        userDefined: [UInt8] = [], maxIncomingPacketSize: Int = 64 * 1024
    ) {
        self.classID = classID
        self.instanceID = instanceID
        self.channelFlags = channelFlags
        self.mmioMegabytes = mmioMegabytes
        self.userDefined = userDefined
        self.maxIncomingPacketSize = maxIncomingPacketSize
    }
}

/// A synthetic device behind one VMBus channel.
///
/// ## Concurrency model
/// The host gives each registered device its own serial dispatch queue. `opened`,
/// `packetReceived`, `sendSpaceAvailable` and `closed` are all called on that queue, in order,
/// never concurrently and never with host locks held; a device may keep its per-channel state in
/// plain properties guarded by that queue, plus a `Mutex` for anything read from other threads
/// (status queries). `ChannelEndpoint` methods may be called from any thread.
public protocol VMBusDevice: AnyObject, Sendable {
    /// The offer the host sends for this device.
    var offer: ChannelOfferInfo { get }
    /// The guest opened the channel; the endpoint is live until `closed`.
    func opened(channel: ChannelEndpoint)
    /// A packet arrived in the guest → host ring.
    func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint)
    /// The guest freed space after a send failed with `ChannelError.ringFull`.
    func sendSpaceAvailable(channel: ChannelEndpoint)
    /// The channel was closed (guest CLOSECHANNEL, rescind, unload or a corrupt ring); the endpoint
    /// refuses further sends.
    func closed(channel: ChannelEndpoint)
}

extension VMBusDevice {
    public func sendSpaceAvailable(channel: ChannelEndpoint) {}
}
