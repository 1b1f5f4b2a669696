/// Channel-management message layouts (protocol doc §8.2; Linux `include/linux/hyperv.h`).
/// Each message starts with `vmbus_channel_message_header { u32 msgtype; u32 padding; }`;
/// offsets below count from the start of that header. Layout only: decoding checks bounds,
/// the host state machine checks meaning.

/// A channel message that can be decoded from and encoded to its wire bytes.
public protocol VMBusChannelMessage: Sendable, Equatable {
    /// The message type in the header.
    static var messageType: VMBusMessageType { get }
    /// The minimum wire size, header included (shorter messages are refused).
    static var wireSize: Int { get }
    /// Decodes the message; trailing bytes beyond `wireSize` are ignored unless the layout has
    /// a variable part.
    static func decode(_ reader: WireReader) throws(WireError) -> Self
    /// Encodes the fields after the header into `writer` (the header is written by `encode()`).
    func encodeBody(into writer: inout WireWriter)
}

extension VMBusChannelMessage {
    /// The full wire bytes, header included.
    public func encode() -> [UInt8] {
        var writer = WireWriter(size: Self.wireSize)
        writer.store(Self.messageType.rawValue, at: 0)
        encodeBody(into: &writer)
        return writer.bytes
    }

    /// Decodes `bytes`, checking the minimum size first.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Self {
        guard bytes.count >= wireSize else {
            throw .truncated(needed: wireSize, at: 0, available: bytes.count)
        }
        return try decode(WireReader(bytes))
    }
}

/// Reads the message type from a channel message header.
public func vmbusMessageType(of bytes: [UInt8]) throws(WireError) -> VMBusMessageType {
    VMBusMessageType(rawValue: try WireReader(bytes).load(UInt32.self, at: 0))
}

/// A message that carries nothing after the header.
public protocol VMBusEmptyMessage: VMBusChannelMessage { init() }
extension VMBusEmptyMessage {
    public static var wireSize: Int { 8 }
    public static func decode(_ reader: WireReader) throws(WireError) -> Self { Self() }
    public func encodeBody(into writer: inout WireWriter) {}
}

/// CHANNELMSG_REQUESTOFFERS (3), guest → host.
public struct RequestOffers: VMBusEmptyMessage {
    public static let messageType = VMBusMessageType.requestOffers
    public init() {}
}

/// CHANNELMSG_ALLOFFERS_DELIVERED (4), host → guest.
public struct AllOffersDelivered: VMBusEmptyMessage {
    public static let messageType = VMBusMessageType.allOffersDelivered
    public init() {}
}

/// CHANNELMSG_UNLOAD (16), guest → host.
public struct Unload: VMBusEmptyMessage {
    public static let messageType = VMBusMessageType.unload
    public init() {}
}

/// CHANNELMSG_UNLOAD_RESPONSE (17), host → guest.
public struct UnloadResponse: VMBusEmptyMessage {
    public static let messageType = VMBusMessageType.unloadResponse
    public init() {}
}

/// CHANNELMSG_INITIATE_CONTACT (14), guest → host: 40 bytes.
/// `u32 vmbus_version_requested @8; u32 target_vcpu @12; union { u64 interrupt_page;
/// struct { u8 msg_sint; u8 pad[3]; u32 pad2; } } @16; u64 monitor_page1 @24; u64 monitor_page2 @32`.
public struct InitiateContact: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.initiateContact
    public static let wireSize = 40
    public var versionRequested: VMBusVersion
    public var targetVCPU: UInt32
    /// For versions < 5.0 the interrupt page GPA; for ≥ 5.0 the low byte is `msg_sint`.
    public var interruptPageOrSINT: UInt64
    public var monitorPage1: UInt64
    public var monitorPage2: UInt64

    public init(
        versionRequested: VMBusVersion, targetVCPU: UInt32, interruptPageOrSINT: UInt64,
        monitorPage1: UInt64 = 0, monitorPage2: UInt64 = 0
    ) {
        self.versionRequested = versionRequested
        self.targetVCPU = targetVCPU
        self.interruptPageOrSINT = interruptPageOrSINT
        self.monitorPage1 = monitorPage1
        self.monitorPage2 = monitorPage2
    }

    /// The message SINT the guest asks for (versions ≥ 5.0).
    public var messageSINT: UInt8 { UInt8(truncatingIfNeeded: interruptPageOrSINT) }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(
            versionRequested: VMBusVersion(rawValue: try r.load(at: 8)), targetVCPU: try r.load(at: 12),
            interruptPageOrSINT: try r.load(at: 16), monitorPage1: try r.load(at: 24),
            monitorPage2: try r.load(at: 32))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(versionRequested.rawValue, at: 8)
        w.store(targetVCPU, at: 12)
        w.store(interruptPageOrSINT, at: 16)
        w.store(monitorPage1, at: 24)
        w.store(monitorPage2, at: 32)
    }
}

/// CHANNELMSG_VERSION_RESPONSE (15), host → guest: 16 bytes.
/// `u8 version_supported @8; u8 connection_state @9; u16 padding; u32 msg_conn_id @12`.
public struct VersionResponse: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.versionResponse
    public static let wireSize = 16
    public var versionSupported: Bool
    public var connectionState: UInt8
    public var messageConnectionID: UInt32

    public init(versionSupported: Bool, connectionState: UInt8 = 0, messageConnectionID: UInt32) {
        self.versionSupported = versionSupported
        self.connectionState = connectionState
        self.messageConnectionID = messageConnectionID
    }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(
            versionSupported: try r.load(UInt8.self, at: 8) != 0, connectionState: try r.load(at: 9),
            messageConnectionID: try r.load(at: 12))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(UInt8(versionSupported ? 1 : 0), at: 8)
        w.store(connectionState, at: 9)
        w.store(messageConnectionID, at: 12)
    }
}

/// CHANNELMSG_OFFERCHANNEL (1), host → guest: 196 bytes.
///
/// ```text
///   8 guid if_type            24 guid if_instance     40 u64 reserved1   48 u64 reserved2
///  56 u16 chn_flags           58 u16 mmio_megabytes   60 u8 user_def[120]
/// 180 u16 sub_channel_index  182 u16 reserved3       184 u32 child_relid
/// 188 u8 monitorid           189 u8 monitor_allocated:1
/// 190 u16 is_dedicated_interrupt:1                   192 u32 connection_id
/// ```
public struct OfferChannel: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.offerChannel
    public static let wireSize = 196
    public static let userDefinedSize = 120
    public var interfaceType: GUID
    public var interfaceInstance: GUID
    public var channelFlags: VMBusChannelFlags
    public var mmioMegabytes: UInt16
    /// Exactly `userDefinedSize` bytes.
    public var userDefined: [UInt8]
    public var subChannelIndex: UInt16
    public var childRelID: UInt32
    public var monitorID: UInt8
    public var monitorAllocated: Bool
    public var isDedicatedInterrupt: Bool
    public var connectionID: UInt32

    public init(
        interfaceType: GUID, interfaceInstance: GUID, channelFlags: VMBusChannelFlags = [], mmioMegabytes: UInt16 = 0,
        userDefined: [UInt8] = [], subChannelIndex: UInt16 = 0, childRelID: UInt32, monitorID: UInt8 = 0xFF,
        monitorAllocated: Bool = false, isDedicatedInterrupt: Bool = true, connectionID: UInt32
    ) {
        self.interfaceType = interfaceType
        self.interfaceInstance = interfaceInstance
        self.channelFlags = channelFlags
        self.mmioMegabytes = mmioMegabytes
        var padded = Array(userDefined.prefix(Self.userDefinedSize))
        padded += [UInt8](repeating: 0, count: Self.userDefinedSize - padded.count)
        self.userDefined = padded
        self.subChannelIndex = subChannelIndex
        self.childRelID = childRelID
        self.monitorID = monitorID
        self.monitorAllocated = monitorAllocated
        self.isDedicatedInterrupt = isDedicatedInterrupt
        self.connectionID = connectionID
    }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(
            interfaceType: try r.guid(at: 8), interfaceInstance: try r.guid(at: 24),
            channelFlags: VMBusChannelFlags(rawValue: try r.load(at: 56)), mmioMegabytes: try r.load(at: 58),
            userDefined: try r.slice(at: 60, count: userDefinedSize), subChannelIndex: try r.load(at: 180),
            childRelID: try r.load(at: 184), monitorID: try r.load(at: 188),
            monitorAllocated: try r.load(UInt8.self, at: 189) & 1 != 0,
            isDedicatedInterrupt: try r.load(UInt16.self, at: 190) & 1 != 0, connectionID: try r.load(at: 192))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(interfaceType, at: 8)
        w.store(interfaceInstance, at: 24)
        w.store(channelFlags.rawValue, at: 56)
        w.store(mmioMegabytes, at: 58)
        w.store(bytes: userDefined, at: 60)
        w.store(subChannelIndex, at: 180)
        w.store(childRelID, at: 184)
        w.store(monitorID, at: 188)
        w.store(UInt8(monitorAllocated ? 1 : 0), at: 189)
        w.store(UInt16(isDedicatedInterrupt ? 1 : 0), at: 190)
        w.store(connectionID, at: 192)
    }
}

/// CHANNELMSG_RESCIND_CHANNELOFFER (2), host → guest: `u32 child_relid @8` (12 bytes).
public struct RescindChannelOffer: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.rescindChannelOffer
    public static let wireSize = 12
    public var childRelID: UInt32
    public init(childRelID: UInt32) { self.childRelID = childRelID }
    public static func decode(_ r: WireReader) throws(WireError) -> Self { Self(childRelID: try r.load(at: 8)) }
    public func encodeBody(into w: inout WireWriter) { w.store(childRelID, at: 8) }
}

/// CHANNELMSG_RELID_RELEASED (13), guest → host: `u32 child_relid @8` (12 bytes).
public struct RelIDReleased: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.relIDReleased
    public static let wireSize = 12
    public var childRelID: UInt32
    public init(childRelID: UInt32) { self.childRelID = childRelID }
    public static func decode(_ r: WireReader) throws(WireError) -> Self { Self(childRelID: try r.load(at: 8)) }
    public func encodeBody(into w: inout WireWriter) { w.store(childRelID, at: 8) }
}

/// CHANNELMSG_CLOSECHANNEL (7), guest → host: `u32 child_relid @8` (12 bytes). No reply.
public struct CloseChannel: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.closeChannel
    public static let wireSize = 12
    public var childRelID: UInt32
    public init(childRelID: UInt32) { self.childRelID = childRelID }
    public static func decode(_ r: WireReader) throws(WireError) -> Self { Self(childRelID: try r.load(at: 8)) }
    public func encodeBody(into w: inout WireWriter) { w.store(childRelID, at: 8) }
}

/// CHANNELMSG_OPENCHANNEL (5), guest → host: 148 bytes.
/// `u32 child_relid @8, openid @12, ringbuffer_gpadlhandle @16, target_vp @20,
/// downstream_ringbuffer_pageoffset @24; u8 userdata[120] @28`.
public struct OpenChannel: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.openChannel
    public static let wireSize = 148
    public var childRelID: UInt32
    public var openID: UInt32
    public var ringBufferGPADL: UInt32
    public var targetVP: UInt32
    public var downstreamRingBufferPageOffset: UInt32
    public var userData: [UInt8]

    public init(
        childRelID: UInt32, openID: UInt32, ringBufferGPADL: UInt32, targetVP: UInt32,
        downstreamRingBufferPageOffset: UInt32, userData: [UInt8] = []
    ) {
        self.childRelID = childRelID
        self.openID = openID
        self.ringBufferGPADL = ringBufferGPADL
        self.targetVP = targetVP
        self.downstreamRingBufferPageOffset = downstreamRingBufferPageOffset
        self.userData = Array(userData.prefix(120)) + [UInt8](repeating: 0, count: 120 - min(120, userData.count))
    }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(
            childRelID: try r.load(at: 8), openID: try r.load(at: 12), ringBufferGPADL: try r.load(at: 16),
            targetVP: try r.load(at: 20), downstreamRingBufferPageOffset: try r.load(at: 24),
            userData: try r.slice(at: 28, count: 120))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(openID, at: 12)
        w.store(ringBufferGPADL, at: 16)
        w.store(targetVP, at: 20)
        w.store(downstreamRingBufferPageOffset, at: 24)
        w.store(bytes: userData, at: 28)
    }
}

/// CHANNELMSG_OPENCHANNEL_RESULT (6), host → guest: `u32 child_relid @8, openid @12, status @16`.
public struct OpenChannelResult: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.openChannelResult
    public static let wireSize = 20
    public var childRelID: UInt32
    public var openID: UInt32
    public var status: VMBusStatus
    public init(childRelID: UInt32, openID: UInt32, status: VMBusStatus) {
        self.childRelID = childRelID
        self.openID = openID
        self.status = status
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(childRelID: try r.load(at: 8), openID: try r.load(at: 12), status: VMBusStatus(rawValue: try r.load(at: 16)))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(openID, at: 12)
        w.store(status.rawValue, at: 16)
    }
}

/// CHANNELMSG_GPADL_HEADER (8), guest → host: `u32 child_relid @8, gpadl @12; u16 range_buflen @16,
/// rangecount @18;` then the first bytes of the range buffer (`gpa_range { u32 byte_count;
/// u32 byte_offset; u64 pfn[] }` repeated) @20.
public struct GPADLHeader: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.gpadlHeader
    public static let wireSize = 20
    public var childRelID: UInt32
    public var gpadl: UInt32
    /// Total bytes of the range buffer, across this message and the bodies.
    public var rangeBufferLength: UInt16
    public var rangeCount: UInt16
    /// The part of the range buffer carried in this message.
    public var rangeBytes: [UInt8]

    public init(childRelID: UInt32, gpadl: UInt32, rangeBufferLength: UInt16, rangeCount: UInt16, rangeBytes: [UInt8]) {
        self.childRelID = childRelID
        self.gpadl = gpadl
        self.rangeBufferLength = rangeBufferLength
        self.rangeCount = rangeCount
        self.rangeBytes = rangeBytes
    }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(
            childRelID: try r.load(at: 8), gpadl: try r.load(at: 12), rangeBufferLength: try r.load(at: 16),
            rangeCount: try r.load(at: 18), rangeBytes: try r.slice(at: 20, count: r.count - 20))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(gpadl, at: 12)
        w.store(rangeBufferLength, at: 16)
        w.store(rangeCount, at: 18)
        w.store(bytes: rangeBytes, at: 20)
    }
}

/// CHANNELMSG_GPADL_BODY (9), guest → host: `u32 msgnumber @8, gpadl @12;` then more range-buffer
/// bytes (PFNs) @16. Linux always sends `msgnumber = 0`.
public struct GPADLBody: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.gpadlBody
    public static let wireSize = 16
    public var messageNumber: UInt32
    public var gpadl: UInt32
    public var rangeBytes: [UInt8]

    public init(messageNumber: UInt32, gpadl: UInt32, rangeBytes: [UInt8]) {
        self.messageNumber = messageNumber
        self.gpadl = gpadl
        self.rangeBytes = rangeBytes
    }

    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(messageNumber: try r.load(at: 8), gpadl: try r.load(at: 12), rangeBytes: try r.slice(at: 16, count: r.count - 16))
    }

    public func encodeBody(into w: inout WireWriter) {
        w.store(messageNumber, at: 8)
        w.store(gpadl, at: 12)
        w.store(bytes: rangeBytes, at: 16)
    }
}

/// CHANNELMSG_GPADL_CREATED (10), host → guest: `u32 child_relid @8, gpadl @12, creation_status @16`.
public struct GPADLCreated: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.gpadlCreated
    public static let wireSize = 20
    public var childRelID: UInt32
    public var gpadl: UInt32
    public var status: VMBusStatus
    public init(childRelID: UInt32, gpadl: UInt32, status: VMBusStatus) {
        self.childRelID = childRelID
        self.gpadl = gpadl
        self.status = status
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(childRelID: try r.load(at: 8), gpadl: try r.load(at: 12), status: VMBusStatus(rawValue: try r.load(at: 16)))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(gpadl, at: 12)
        w.store(status.rawValue, at: 16)
    }
}

/// CHANNELMSG_GPADL_TEARDOWN (11), guest → host: `u32 child_relid @8, gpadl @12`.
public struct GPADLTeardown: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.gpadlTeardown
    public static let wireSize = 16
    public var childRelID: UInt32
    public var gpadl: UInt32
    public init(childRelID: UInt32, gpadl: UInt32) {
        self.childRelID = childRelID
        self.gpadl = gpadl
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(childRelID: try r.load(at: 8), gpadl: try r.load(at: 12))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(gpadl, at: 12)
    }
}

/// CHANNELMSG_GPADL_TORNDOWN (12), host → guest: `u32 gpadl @8`.
public struct GPADLTorndown: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.gpadlTorndown
    public static let wireSize = 12
    public var gpadl: UInt32
    public init(gpadl: UInt32) { self.gpadl = gpadl }
    public static func decode(_ r: WireReader) throws(WireError) -> Self { Self(gpadl: try r.load(at: 8)) }
    public func encodeBody(into w: inout WireWriter) { w.store(gpadl, at: 8) }
}

/// CHANNELMSG_MODIFYCHANNEL (22), guest → host: `u32 child_relid @8, target_vp @12`.
public struct ModifyChannel: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.modifyChannel
    public static let wireSize = 16
    public var childRelID: UInt32
    public var targetVP: UInt32
    public init(childRelID: UInt32, targetVP: UInt32) {
        self.childRelID = childRelID
        self.targetVP = targetVP
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(childRelID: try r.load(at: 8), targetVP: try r.load(at: 12))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(targetVP, at: 12)
    }
}

/// CHANNELMSG_MODIFYCHANNEL_RESPONSE (24), host → guest (≥ 5.3): `u32 child_relid @8, status @12`.
public struct ModifyChannelResponse: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.modifyChannelResponse
    public static let wireSize = 16
    public var childRelID: UInt32
    public var status: VMBusStatus
    public init(childRelID: UInt32, status: VMBusStatus) {
        self.childRelID = childRelID
        self.status = status
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(childRelID: try r.load(at: 8), status: VMBusStatus(rawValue: try r.load(at: 12)))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(childRelID, at: 8)
        w.store(status.rawValue, at: 12)
    }
}

/// CHANNELMSG_TL_CONNECT_REQUEST (21), guest → host (hv_sock): `guid guest_endpoint_id @8,
/// host_service_id @24`. The host offers no hv_sock services and ignores it.
public struct TLConnectRequest: VMBusChannelMessage {
    public static let messageType = VMBusMessageType.tlConnectRequest
    public static let wireSize = 40
    public var guestEndpointID: GUID
    public var hostServiceID: GUID
    public init(guestEndpointID: GUID, hostServiceID: GUID) {
        self.guestEndpointID = guestEndpointID
        self.hostServiceID = hostServiceID
    }
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        Self(guestEndpointID: try r.guid(at: 8), hostServiceID: try r.guid(at: 24))
    }
    public func encodeBody(into w: inout WireWriter) {
        w.store(guestEndpointID, at: 8)
        w.store(hostServiceID, at: 24)
    }
}
