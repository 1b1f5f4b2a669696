import VMBus

/// Integration-service message layouts (protocol doc §11; Linux `include/linux/hyperv.h`,
/// `drivers/hv/hv_util.c`). Layout only.
///
/// ```text
/// in-band packet payload:
///    0 vmbuspipe_hdr { u32 flags; u32 msgsize }           (Linux skips it)
///    8 icmsg_hdr { ic_version icverframe @0; u16 icmsgtype @4; ic_version icvermsg @6;
///                  u16 icmsgsize @10; u32 status @12; u8 ictransaction_id @16; u8 icflags @17;
///                  u8 reserved[2] }                         (20 bytes)
///   28 message data (ICMSG_HDR = 28)
/// ```
public enum ICLayout {
    public static let pipeHeaderSize = 8
    public static let messageHeaderOffset = 8
    /// `ICMSG_HDR`: where message data starts.
    public static let dataOffset = 28
    /// `PIPE_PACKET_TYPE_DATA` in the pipe header (OpenVMM).
    public static let pipeDataFlag: UInt32 = 1
    /// Largest IC packet Linux receives (`HV_HYP_PAGE_SIZE` buffer).
    public static let maxPacketPayload = 4096 - 16

    /// The offer of an IC, as OpenVMM makes it: a message-mode pipe
    /// (`ENUMERATE_DEVICE_INTERFACE | NAMED_PIPE_MODE`, `user_def.pipe_mode = 4`). Linux ignores
    /// both; Windows guests expect them.
    public static func offer(classID: GUID, instanceID: GUID) -> ChannelOfferInfo {
        ChannelOfferInfo(
            classID: classID, instanceID: instanceID, channelFlags: [.enumerateDeviceInterface, .namedPipeMode],
            userDefined: [4, 0, 0, 0], maxIncomingPacketSize: 4096)
    }
}

/// `struct ic_version { u16 major; u16 minor; }`.
public struct ICVersion: Hashable, Sendable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16
    public init(_ major: UInt16, _ minor: UInt16) {
        self.major = major
        self.minor = minor
    }
    public var description: String { "\(major).\(minor)" }
}

/// `icmsgtype`. Open.
public struct ICMessageType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let negotiate = Self(rawValue: 0)
    public static let heartbeat = Self(rawValue: 1)
    public static let kvpExchange = Self(rawValue: 2)
    public static let shutdown = Self(rawValue: 3)
    public static let timeSync = Self(rawValue: 4)
    public static let vss = Self(rawValue: 5)
    public static let fcopy = Self(rawValue: 7)
}

/// `icflags` bits.
public struct ICFlags: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let transaction = Self(rawValue: 1)
    public static let request = Self(rawValue: 2)
    public static let response = Self(rawValue: 4)
}

/// IC status codes.
public enum ICStatus {
    public static let ok: UInt32 = 0
    /// `HV_E_FAIL`.
    public static let fail: UInt32 = 0x8000_4005
    /// `HV_S_CONT`: KVP enumeration has no more entries.
    public static let more: UInt32 = 0x8007_0103
}

/// `struct icmsg_hdr` plus the pipe header in front of it.
public struct ICMessageHeader: Hashable, Sendable {
    public var frameworkVersion: ICVersion
    public var messageType: ICMessageType
    public var messageVersion: ICVersion
    public var messageSize: UInt16
    public var status: UInt32
    public var transactionID: UInt8
    public var flags: ICFlags

    public init(
        frameworkVersion: ICVersion, messageType: ICMessageType, messageVersion: ICVersion, messageSize: UInt16,
        status: UInt32 = 0, transactionID: UInt8 = 0, flags: ICFlags
    ) {
        self.frameworkVersion = frameworkVersion
        self.messageType = messageType
        self.messageVersion = messageVersion
        self.messageSize = messageSize
        self.status = status
        self.transactionID = transactionID
        self.flags = flags
    }

    /// Decodes the header from a packet payload (pipe header first).
    public static func decode(_ r: WireReader) throws(WireError) -> Self {
        let base = ICLayout.messageHeaderOffset
        return Self(
            frameworkVersion: ICVersion(try r.load(at: base), try r.load(at: base + 2)),
            messageType: ICMessageType(rawValue: try r.load(at: base + 4)),
            messageVersion: ICVersion(try r.load(at: base + 6), try r.load(at: base + 8)),
            messageSize: try r.load(at: base + 10), status: try r.load(at: base + 12),
            transactionID: try r.load(at: base + 16), flags: ICFlags(rawValue: try r.load(at: base + 17)))
    }

    /// A whole payload: pipe header, this header, `data`.
    public func encodePacket(data: [UInt8]) -> [UInt8] {
        var w = WireWriter(size: ICLayout.dataOffset)
        w.store(ICLayout.pipeDataFlag, at: 0)
        w.store(UInt32(ICLayout.dataOffset - ICLayout.pipeHeaderSize + data.count), at: 4)
        let base = ICLayout.messageHeaderOffset
        w.store(frameworkVersion.major, at: base)
        w.store(frameworkVersion.minor, at: base + 2)
        w.store(messageType.rawValue, at: base + 4)
        w.store(messageVersion.major, at: base + 6)
        w.store(messageVersion.minor, at: base + 8)
        w.store(messageSize, at: base + 10)
        w.store(status, at: base + 12)
        w.store(transactionID, at: base + 16)
        w.store(flags.rawValue, at: base + 17)
        w.store(bytes: data, at: ICLayout.dataOffset)
        return w.bytes
    }
}

/// `struct icmsg_negotiate { u16 icframe_vercnt; u16 icmsg_vercnt; u32 reserved;
/// ic_version icversion_data[]; }` — framework versions first, then service versions.
public struct ICNegotiate: Hashable, Sendable {
    public var frameworkVersions: [ICVersion]
    public var messageVersions: [ICVersion]

    public init(frameworkVersions: [ICVersion], messageVersions: [ICVersion]) {
        self.frameworkVersions = frameworkVersions
        self.messageVersions = messageVersions
    }

    public func encode() -> [UInt8] {
        var w = WireWriter(size: 8 + 4 * (frameworkVersions.count + messageVersions.count))
        w.store(UInt16(frameworkVersions.count), at: 0)
        w.store(UInt16(messageVersions.count), at: 2)
        for (index, version) in (frameworkVersions + messageVersions).enumerated() {
            w.store(version.major, at: 8 + 4 * index)
            w.store(version.minor, at: 10 + 4 * index)
        }
        return w.bytes
    }

    /// Decodes negotiate data (starting at `ICMSG_HDR` in a payload); at most 16 of each.
    public static func decode(_ r: WireReader, at base: Int) throws(WireError) -> Self {
        let frameworkCount = Int(try r.load(UInt16.self, at: base))
        let messageCount = Int(try r.load(UInt16.self, at: base + 2))
        guard frameworkCount <= 16, messageCount <= 16 else {
            throw .invalidField("version counts \(frameworkCount)/\(messageCount)")
        }
        var versions: [ICVersion] = []
        for index in 0..<(frameworkCount + messageCount) {
            versions.append(ICVersion(try r.load(at: base + 8 + 4 * index), try r.load(at: base + 10 + 4 * index)))
        }
        return Self(
            frameworkVersions: Array(versions.prefix(frameworkCount)), messageVersions: Array(versions.dropFirst(frameworkCount)))
    }
}

/// Class and instance GUIDs of the integration services (protocol doc §11).
public enum ICGUIDs {
    // The literals are valid GUIDs; `GUID.zero` is only a formal fallback.
    public static let shutdownClass = GUID("0e0b6031-5213-4934-818b-38d90ced39db") ?? .zero
    public static let timeSyncClass = GUID("9527e630-d0ae-497b-adce-e80ab0175caf") ?? .zero
    public static let heartbeatClass = GUID("57164f39-9115-4e78-ab55-382f3bd5422d") ?? .zero
    public static let kvpClass = GUID("a9a0f4e7-5a45-4d96-b827-8a841e8c03e6") ?? .zero
    public static let shutdownInstance = GUID("b6650ff7-33bc-4840-8048-e0676786f393") ?? .zero
    public static let timeSyncInstance = GUID("2dd1ce17-079e-403c-b352-a1921ee207ee") ?? .zero
    public static let kvpInstance = GUID("242ff919-07db-4180-9c2e-b86cb68c8c55") ?? .zero
    /// Our own (OpenVMM's heartbeat instance is not in the protocol doc).
    public static let heartbeatInstance = GUID("fc7a2c4e-6b53-4d35-9e41-2f1b0a8c7d65") ?? .zero
}
