import VMBus

// The Network Virtual Service Protocol (NVSP) as Linux 6.1 speaks it
// (drivers/net/hyperv/hyperv_net.h; protocol doc §10). Layout and constants only, no logic.
// Every message is `u32 msg_type` followed by a packed union; the whole `struct nvsp_message`
// is 40 bytes, and the host sends all 40 in its completions (the guest copies 40 bytes out).

/// `msg_type` of an NVSP message. Open: unknown values are representable.
public struct NVSPMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let initialize = Self(rawValue: 1)
    public static let initializeComplete = Self(rawValue: 2)
    public static let sendNDISVersion = Self(rawValue: 100)
    public static let sendReceiveBuffer = Self(rawValue: 101)
    public static let sendReceiveBufferComplete = Self(rawValue: 102)
    public static let revokeReceiveBuffer = Self(rawValue: 103)
    public static let sendSendBuffer = Self(rawValue: 104)
    public static let sendSendBufferComplete = Self(rawValue: 105)
    public static let revokeSendBuffer = Self(rawValue: 106)
    public static let sendRNDISPacket = Self(rawValue: 107)
    public static let sendRNDISPacketComplete = Self(rawValue: 108)
    public static let sendNDISConfig = Self(rawValue: 125)
    public static let sendVFAssociation = Self(rawValue: 128)
    public static let switchDataPath = Self(rawValue: 129)
    public static let subchannel = Self(rawValue: 133)
    public static let sendIndirectionTable = Self(rawValue: 134)
    public var description: String { "NVSP(\(rawValue))" }
}

/// `NVSP_STAT_*`. Success is 1, not 0.
public struct NVSPStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let none = Self(rawValue: 0)
    public static let success = Self(rawValue: 1)
    public static let failure = Self(rawValue: 2)
}

/// NVSP protocol versions (`NVSP_PROTOCOL_VERSION_*`).
public enum NVSPVersion {
    public static let v1: UInt32 = 0x2
    public static let v2: UInt32 = 0x30002
    public static let v4: UInt32 = 0x40000
    public static let v5: UInt32 = 0x50000
    public static let v6: UInt32 = 0x60000
    public static let v61: UInt32 = 0x60001
    /// What this host accepts: everything Linux 6.1 tries.
    public static let supported: Set<UInt32> = [v1, v2, v4, v5, v6, v61]
}

/// Field offsets of `struct nvsp_message` (all relative to the message start).
enum NVSPLayout {
    static let messageSize = 40
    static let headerSize = 4
    /// INIT: `{ u32 min_protocol_ver; u32 max_protocol_ver; }`.
    static let initMinVersion = 4, initMaxVersion = 8
    /// INIT_COMPLETE: `{ u32 negotiated_protocol_ver; u32 max_mdl_chain_len; u32 status; }`.
    static let initCompleteVersion = 4, initCompleteMaxMDLChain = 8, initCompleteStatus = 12
    /// SEND_RECV_BUF / SEND_SEND_BUF: `{ u32 gpadl_handle; u16 id; }`.
    static let bufferGPADL = 4, bufferID = 8
    /// SEND_RECV_BUF_COMPLETE: `{ u32 status; u32 num_sections; sections[1] {offset, sub_alloc_size,
    /// num_sub_allocs, end_offset} }`.
    static let receiveCompleteStatus = 4, receiveCompleteSections = 8, receiveCompleteSection0 = 12
    /// SEND_SEND_BUF_COMPLETE: `{ u32 status; u32 section_size; }`.
    static let sendCompleteStatus = 4, sendCompleteSectionSize = 8
    /// REVOKE_*: `{ u16 id; }`.
    static let revokeID = 4
    /// SEND_RNDIS_PKT: `{ u32 channel_type; u32 send_buf_section_index; u32 send_buf_section_size; }`.
    static let rndisChannelType = 4, rndisSectionIndex = 8, rndisSectionSize = 12
    static let rndisPacketSize = 16
    /// SEND_RNDIS_PKT_COMPLETE / SUBCHANNEL response: `{ u32 status; ... }`.
    static let completeStatus = 4
}

/// `channel_type` of SEND_RNDIS_PKT.
enum NVSPChannelType {
    static let data: UInt32 = 0
    static let control: UInt32 = 1
}

/// Constants of the netvsc buffers.
public enum NetvscConstants {
    /// `{F8615163-DF3E-46C5-913F-F2D2F965ED0E}`: the synthetic NIC class.
    public static let classID = GUID("f8615163-df3e-46c5-913f-f2d2f965ed0e") ?? .zero
    /// `NETVSC_RECEIVE_BUFFER_ID`: the transfer page set id of the receive buffer.
    public static let receiveBufferID: UInt16 = 0xCAFE
    /// `NETVSC_INVALID_INDEX`: "not in the send buffer".
    public static let invalidSectionIndex: UInt32 = 0xFFFF_FFFF
    /// Receive sub-allocation: one RNDIS packet header (44 bytes) plus a 1514-byte frame fits,
    /// and so does the biggest control response (offload capabilities, 180 bytes).
    public static let receiveSectionSize = 2048
    /// Send-buffer section size returned to the guest (what OpenVMM returns).
    public static let sendSectionSize = 6144
    /// Largest RNDIS message accepted from the guest (a 64 KiB frame plus headers).
    public static let maxGuestMessage = 65536 + 1024
}

/// Builds a 40-byte NVSP message from `(offset, value)` fields.
func nvspMessage(_ type: NVSPMessageType, _ fields: [(Int, UInt32)] = []) -> [UInt8] {
    var writer = WireWriter(size: NVSPLayout.messageSize)
    writer.store(type.rawValue, at: 0)
    for (offset, value) in fields { writer.store(value, at: offset) }
    return writer.bytes
}
