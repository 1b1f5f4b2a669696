/// SynIC register and page layouts (TLFS §11; Linux `include/asm-generic/hyperv-tlfs.h`).
/// Layout only, no logic.
///
/// Message page (SIMP), one 256-byte `hv_message` per SINT:
/// ```
///  slot n at n*256:
///  +0  u32 message_type   (HVMSG_NONE = 0 means free; the guest frees it with cmpxchg)
///  +4  u8  payload_size   (≤ 240)
///  +5  u8  message_flags  (bit 0: msg_pending → the guest writes EOM after freeing)
///  +6  u16 reserved
///  +8  u64 sender / port id
///  +16 u8  payload[240]
/// ```
/// Event flags page (SIEFP): SINT n owns bytes [n*256, n*256+256), 2048 flag bits.
public enum SynICLayout {
    public static let sintCount = 16
    public static let pageSize = 4096
    public static let messageSize = 256
    public static let messageHeaderSize = 16
    public static let maxPayloadSize = 240
    public static let eventFlagsPerSINT = 2048
    public static let eventFlagBytesPerSINT = 256

    public static let messageTypeOffset = 0
    public static let payloadSizeOffset = 4
    public static let messageFlagsOffset = 5
    public static let senderOffset = 8
    public static let payloadOffset = 16
    /// `msg_pending` as a bit of the slot's first 64-bit word (byte 5, bit 0).
    public static let messagePendingBitInFirstWord: UInt64 = 1 << 40

    /// The VMBus SINT and the guest's HYPERVISOR_CALLBACK_VECTOR, for reference.
    public static let vmbusSINT: UInt8 = 2
    public static let hypervisorCallbackVector: UInt8 = 0xF3
}

/// A SynIC message type (`enum hv_message_type`). Open; bit 31 set marks hypervisor messages.
public struct HvMessageType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let none = Self(rawValue: 0)
    /// What VMBus uses (`VMBUS_MESSAGE_TYPE`, `HV_MESSAGE_VMBUS`).
    public static let vmbus = Self(rawValue: 1)
    public static let timerExpired = Self(rawValue: 0x8000_0010)
    /// Message types with this bit are reserved for the hypervisor; guests may not post them.
    public static let hypervisorBit: UInt32 = 0x8000_0000
}

/// A SINTx register (`union hv_synic_sint`): vector 7:0, masked 16, auto-EOI 17, polling 18.
public struct SINTRegister: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Bits we keep; the rest are reserved and read back as zero.
    public static let definedBits: UInt64 = 0xFF | maskedBit | autoEOIBit | pollingBit
    public static let maskedBit: UInt64 = 1 << 16
    public static let autoEOIBit: UInt64 = 1 << 17
    public static let pollingBit: UInt64 = 1 << 18
    /// Reset value: masked, vector 0.
    public static let resetValue = SINTRegister(rawValue: maskedBit)
    /// Vectors below 16 are reserved for exceptions; an unmasked SINT may not use them.
    public static let firstValidVector: UInt8 = 16

    public var vector: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var isMasked: Bool { rawValue & Self.maskedBit != 0 }
    public var autoEOI: Bool { rawValue & Self.autoEOIBit != 0 }
    /// Polling: the guest polls; we set flags and write slots but never interrupt.
    public var isPolling: Bool { rawValue & Self.pollingBit != 0 }
}
