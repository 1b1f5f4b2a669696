import VMBus

/// Key-value exchange layouts (Linux `include/uapi/linux/hyperv.h`, `drivers/hv/hv_kvp.c`).
///
/// ```text
/// hv_kvp_msg (after ICMSG_HDR):
///   0 hv_kvp_hdr { u8 operation; u8 pool; u16 pad; }
///   4 body:
///     SET / GET / DELETE:  hv_kvp_exchg_msg_value
///     ENUMERATE:           u32 index; hv_kvp_exchg_msg_value
/// hv_kvp_exchg_msg_value { u32 value_type; u32 key_size; u32 value_size;
///                          u8 key[512]; u8 value[2048]; }      (2572 bytes, UTF-16LE text)
/// ```
public enum KVPLayout {
    public static let maxKeySize = 512
    public static let maxValueSize = 2048
    public static let valueRecordSize = 12 + maxKeySize + maxValueSize
    /// Data size the host sends for every operation: header, index and one record. The guest
    /// answers in the same buffer, so it must be large enough for the longest answer.
    public static let messageSize = 4 + 4 + valueRecordSize
}

/// `KVP_OP_*`. Open.
public struct KVPOperation: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let get = Self(rawValue: 0)
    public static let set = Self(rawValue: 1)
    public static let delete = Self(rawValue: 2)
    public static let enumerate = Self(rawValue: 3)
}

/// `KVP_POOL_*`. Open.
public struct KVPPool: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Pushed by the host, readable in the guest (`/var/lib/hyperv/.kvp_pool_0`).
    public static let external = Self(rawValue: 0)
    /// Written by guest programs for the host.
    public static let guest = Self(rawValue: 1)
    /// Intrinsic guest data the daemon collects (OS name, FQDN, IP addresses).
    public static let auto = Self(rawValue: 2)
    public static let autoExternal = Self(rawValue: 3)
    public static let autoInternal = Self(rawValue: 4)
}

/// `REG_SZ` etc.
public enum KVPValueType {
    public static let string: UInt32 = 1
    public static let u32: UInt32 = 4
    public static let u64: UInt32 = 8
}

/// One KVP request or answer.
public struct KVPMessage: Hashable, Sendable {
    public var operation: KVPOperation
    public var pool: KVPPool
    /// ENUMERATE only.
    public var index: UInt32
    public var key: String
    public var value: String

    public init(operation: KVPOperation, pool: KVPPool, index: UInt32 = 0, key: String = "", value: String = "") {
        self.operation = operation
        self.pool = pool
        self.index = index
        self.key = key
        self.value = value
    }

    private var recordOffset: Int { operation == .enumerate ? 8 : 4 }

    /// UTF-16LE with a terminating zero, as the sizes on the wire count it.
    static func utf16(_ text: String, limit: Int) -> [UInt8]? {
        let units = Array(text.utf16) + [0]
        guard units.count * 2 <= limit else { return nil }
        return units.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
    }

    /// Encodes `KVPLayout.messageSize` bytes.
    /// - Returns: `nil` when the key or value is too long.
    public func encode() -> [UInt8]? {
        guard let keyBytes = Self.utf16(key, limit: KVPLayout.maxKeySize),
            let valueBytes = Self.utf16(value, limit: KVPLayout.maxValueSize)
        else { return nil }
        var w = WireWriter(size: KVPLayout.messageSize)
        w.store(operation.rawValue, at: 0)
        w.store(pool.rawValue, at: 1)
        if operation == .enumerate { w.store(index, at: 4) }
        let base = recordOffset
        w.store(KVPValueType.string, at: base)
        w.store(UInt32(keyBytes.count), at: base + 4)
        w.store(UInt32(valueBytes.count), at: base + 8)
        w.store(bytes: keyBytes, at: base + 12)
        w.store(bytes: valueBytes, at: base + 12 + KVPLayout.maxKeySize)
        return w.bytes
    }

    /// Decodes an answer; sizes beyond the fields' capacity are refused.
    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Self {
        let r = WireReader(bytes)
        var message = Self(operation: KVPOperation(rawValue: try r.load(at: 0)), pool: KVPPool(rawValue: try r.load(at: 1)))
        if message.operation == .enumerate { message.index = try r.load(at: 4) }
        let base = message.recordOffset
        let valueType: UInt32 = try r.load(at: base)
        let keySize = Int(try r.load(UInt32.self, at: base + 4))
        let valueSize = Int(try r.load(UInt32.self, at: base + 8))
        guard keySize <= KVPLayout.maxKeySize, valueSize <= KVPLayout.maxValueSize else {
            throw .invalidField("KVP key size \(keySize) value size \(valueSize)")
        }
        message.key = text(try r.slice(at: base + 12, count: keySize))
        let valueBytes = try r.slice(at: base + 12 + KVPLayout.maxKeySize, count: valueSize)
        switch valueType {
        case KVPValueType.u32: message.value = String(try WireReader(valueBytes).load(UInt32.self, at: 0))
        case KVPValueType.u64: message.value = String(try WireReader(valueBytes).load(UInt64.self, at: 0))
        default: message.value = text(valueBytes)
        }
        return message
    }

    /// UTF-16LE up to the first zero unit; invalid sequences become U+FFFD.
    static func text(_ bytes: [UInt8]) -> String {
        var units: [UInt16] = []
        var index = 0
        while index + 1 < bytes.count {
            let unit = UInt16(bytes[index]) | UInt16(bytes[index + 1]) << 8
            if unit == 0 { break }
            units.append(unit)
            index += 2
        }
        return String(decoding: units, as: UTF16.self)
    }
}
