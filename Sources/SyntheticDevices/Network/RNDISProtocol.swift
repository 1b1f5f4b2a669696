// Remote NDIS as the Linux netvsc driver uses it (include/linux/rndis.h,
// drivers/net/hyperv/rndis_filter.c; protocol doc §10). Layout and constants only.
// Every message starts `{ u32 ndis_msg_type; u32 msg_len; }`; offsets inside a message body are
// relative to the byte after that 8-byte header, except `info_buf_offset`, which is relative to
// `req_id` (the same byte).

/// `ndis_msg_type`. Open.
public struct RNDISMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let packet = Self(rawValue: 1)
    public static let initialize = Self(rawValue: 2)
    public static let halt = Self(rawValue: 3)
    public static let query = Self(rawValue: 4)
    public static let set = Self(rawValue: 5)
    public static let reset = Self(rawValue: 6)
    public static let indicate = Self(rawValue: 7)
    public static let keepalive = Self(rawValue: 8)
    /// The completion of a request type (`| 0x80000000`).
    public var completion: Self { Self(rawValue: rawValue | 0x8000_0000) }
    public var description: String { "RNDIS(0x\(String(rawValue, radix: 16)))" }
}

/// `RNDIS_STATUS_*`.
public struct RNDISStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let success = Self(rawValue: 0)
    public static let mediaConnect = Self(rawValue: 0x4001_000B)
    public static let mediaDisconnect = Self(rawValue: 0x4001_000C)
    public static let notSupported = Self(rawValue: 0xC000_00BB)
    public static let failure = Self(rawValue: 0xC000_0001)
    public static let invalidData = Self(rawValue: 0xC001_0015)
}

/// NDIS object identifiers the Linux driver queries or sets.
public struct RNDISOID: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let maximumFrameSize = Self(rawValue: 0x0001_0106)
    public static let linkSpeed = Self(rawValue: 0x0001_0107)
    public static let currentPacketFilter = Self(rawValue: 0x0001_010E)
    public static let maximumTotalSize = Self(rawValue: 0x0001_0111)
    public static let mediaConnectStatus = Self(rawValue: 0x0001_0114)
    public static let receiveScaleCapabilities = Self(rawValue: 0x0001_0203)
    public static let friendlyName = Self(rawValue: 0x0002_0216)
    public static let rndisConfigParameter = Self(rawValue: 0x0001_021B)
    public static let permanentAddress = Self(rawValue: 0x0101_0101)
    public static let currentAddress = Self(rawValue: 0x0101_0102)
    public static let multicastList = Self(rawValue: 0x0101_0103)
    public static let maximumListSize = Self(rawValue: 0x0101_0104)
    public static let offloadParameters = Self(rawValue: 0xFC01_020C)
    public static let offloadHardwareCapabilities = Self(rawValue: 0xFC01_020D)
}

/// Field offsets (from the message start, header included).
enum RNDISLayout {
    static let headerSize = 8
    static let type = 0, length = 4, requestID = 8
    /// INITIALIZE: `{ req_id; major_ver; minor_ver; max_xfer_size; }`.
    static let initializeSize = 24
    /// INITIALIZE_COMPLETE: `{ req_id; status; major; minor; dev_flags; medium; max_pkt_per_msg;
    /// max_xfer_size; pkt_alignment_factor; af_list_offset; af_list_size; }` = 8 + 44 bytes.
    static let initializeCompleteSize = 52
    /// QUERY/SET: `{ req_id; oid; info_buflen; info_buf_offset; dev_vc_handle; }`.
    static let requestOID = 12, requestInfoLength = 16, requestInfoOffset = 20, requestSize = 28
    /// QUERY_COMPLETE: `{ req_id; status; info_buflen; info_buf_offset; }`, info at 24.
    static let queryCompleteSize = 24
    /// SET/KEEPALIVE_COMPLETE: `{ req_id; status; }`.
    static let simpleCompleteSize = 16
    /// RESET_COMPLETE: `{ status; addressing_reset; }`.
    static let resetCompleteSize = 16
    /// INDICATE_STATUS: `{ status; status_buflen; status_buf_offset; }`.
    static let indicateSize = 20
    /// PACKET: `{ data_offset; data_len; oob_data_offset; oob_data_len; num_oob_data_elements;
    /// per_pkt_info_offset; per_pkt_info_len; vc_handle; reserved; }` (36 bytes after the header).
    static let packetDataOffset = 8, packetDataLength = 12, packetPPIOffset = 28, packetPPILength = 32
    static let packetBodySize = 36
    static let packetHeaderSize = headerSize + packetBodySize
}

/// NDIS object header type of `struct ndis_offload` (`NDIS_OBJECT_TYPE_OFFLOAD`).
enum NDISOffload {
    static let objectType: UInt8 = 0xA7
    static let revision1: UInt8 = 1
    /// `NDIS_OFFLOAD_SIZE_6_0`: the smallest size every NVSP version's guest accepts.
    static let size60 = 112
}
