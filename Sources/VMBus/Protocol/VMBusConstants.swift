/// VMBus constants and open enums from Linux `include/linux/hyperv.h` and `drivers/hv/hyperv_vmbus.h`
/// (protocol doc §8.1–§8.2). Layout only, no logic.

/// A channel-management message type (`enum vmbus_channel_message_type`). Open: unknown values
/// are representable.
public struct VMBusMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let invalid = Self(rawValue: 0)
    public static let offerChannel = Self(rawValue: 1)
    public static let rescindChannelOffer = Self(rawValue: 2)
    public static let requestOffers = Self(rawValue: 3)
    public static let allOffersDelivered = Self(rawValue: 4)
    public static let openChannel = Self(rawValue: 5)
    public static let openChannelResult = Self(rawValue: 6)
    public static let closeChannel = Self(rawValue: 7)
    public static let gpadlHeader = Self(rawValue: 8)
    public static let gpadlBody = Self(rawValue: 9)
    public static let gpadlCreated = Self(rawValue: 10)
    public static let gpadlTeardown = Self(rawValue: 11)
    public static let gpadlTorndown = Self(rawValue: 12)
    public static let relIDReleased = Self(rawValue: 13)
    public static let initiateContact = Self(rawValue: 14)
    public static let versionResponse = Self(rawValue: 15)
    public static let unload = Self(rawValue: 16)
    public static let unloadResponse = Self(rawValue: 17)
    public static let tlConnectRequest = Self(rawValue: 21)
    public static let modifyChannel = Self(rawValue: 22)
    public static let tlConnectResult = Self(rawValue: 23)
    public static let modifyChannelResponse = Self(rawValue: 24)

    public var description: String { "VMBusMessageType(\(rawValue))" }
}

/// A VMBus protocol version, `major << 16 | minor`.
public struct VMBusVersion: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(major: UInt16, minor: UInt16) { rawValue = UInt32(major) << 16 | UInt32(minor) }

    public var major: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    public var minor: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    public static let ws2008 = Self(rawValue: 13)
    public static let win7 = Self(major: 1, minor: 1)
    public static let win8 = Self(major: 2, minor: 4)
    public static let win8_1 = Self(major: 3, minor: 0)
    public static let win10 = Self(major: 4, minor: 0)
    public static let win10_v4_1 = Self(major: 4, minor: 1)
    public static let win10_v5 = Self(major: 5, minor: 0)
    public static let win10_v5_1 = Self(major: 5, minor: 1)
    public static let win10_v5_2 = Self(major: 5, minor: 2)
    public static let win10_v5_3 = Self(major: 5, minor: 3)

    public static func < (l: Self, r: Self) -> Bool { l.rawValue < r.rawValue }
    public var description: String { "\(major).\(minor)" }
}

/// Well-known connection ids and SINTs (protocol doc §8.1).
public enum VMBusConnectionID {
    /// Message connection id for versions < 5.0, and the one the host answers with for ≥ 5.0.
    public static let message: UInt32 = 1
    /// The legacy event connection id (unused with dedicated interrupts).
    public static let event: UInt32 = 2
    /// The monitor connection id (unused: no monitor pages are allocated).
    public static let monitor: UInt32 = 3
    /// INITIATE_CONTACT for versions ≥ 5.0 is posted here.
    public static let message4: UInt32 = 4
    /// The SINT VMBus messages and channel events use.
    public static let messageSINT: UInt8 = 2
    /// Hyper-V message type VMBus uses for its SynIC messages (`HVMSG_VMBUS`... type 1).
    public static let synicMessageType: UInt32 = 1
    /// Maximum SynIC message payload (`HV_MESSAGE_PAYLOAD_BYTE_COUNT`).
    public static let maxMessagePayload = 240
    /// Highest channel relid (`MAX_CHANNEL_RELIDS` - 1); relid 0 is never used.
    public static let maxRelID: UInt32 = 2047
}

/// An NTSTATUS-style result the host puts in OPENCHANNEL_RESULT / GPADL_CREATED /
/// MODIFYCHANNEL_RESPONSE. Linux only tests for zero.
public struct VMBusStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let success = Self(rawValue: 0)
    /// STATUS_UNSUCCESSFUL.
    public static let unsuccessful = Self(rawValue: 0xC000_0001)
    /// STATUS_INVALID_PARAMETER.
    public static let invalidParameter = Self(rawValue: 0xC000_000D)
    /// STATUS_INSUFFICIENT_RESOURCES.
    public static let insufficientResources = Self(rawValue: 0xC000_009A)
}

/// Offer `chn_flags` bits (`VMBUS_CHANNEL_*`).
public struct VMBusChannelFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let enumerateDeviceInterface = Self(rawValue: 0x1)
    public static let namedPipeMode = Self(rawValue: 0x10)
    public static let tlnpiProviderOffer = Self(rawValue: 0x2000)
}
