/// Ring-buffer and packet-descriptor layouts (protocol doc §8.5–§8.6; Linux `struct hv_ring_buffer`,
/// `struct vmpacket_descriptor`). Layout only.
///
/// ```text
///  ring = header page + data pages (datasize = ring bytes - 4096)
///  header page:
///    +0  u32 write_index     (writer owns)   byte offset into the data area
///    +4  u32 read_index      (reader owns)
///    +8  u32 interrupt_mask  (reader sets: "don't signal me")
///   +12  u32 pending_send_sz (writer sets: "signal me when this much is free")
///   +64  u32 feature_bits    (bit 0: pending-send-size supported)
///  data area, per packet (wraps around):
///    vmpacket_descriptor (16) | payload | pad to 8 | u64 trailer = (u64)old_write_index << 32
/// ```
public enum RingBufferLayout {
    public static let pageSize = 4096
    public static let writeIndexOffset: UInt64 = 0
    public static let readIndexOffset: UInt64 = 4
    public static let interruptMaskOffset: UInt64 = 8
    public static let pendingSendSizeOffset: UInt64 = 12
    public static let featureBitsOffset: UInt64 = 64
    /// `feature_bits.feat_pending_send_sz`.
    public static let featurePendingSendSize: UInt32 = 1
    /// The trailing index after each packet.
    public static let trailerSize = 8
}

/// A VMBus packet type (`enum vmbus_packet_type`). Open.
public struct VMBusPacketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let synch = Self(rawValue: 1)
    public static let addTransferPageSet = Self(rawValue: 2)
    public static let removeTransferPageSet = Self(rawValue: 3)
    public static let establishGPADL = Self(rawValue: 4)
    public static let teardownGPADL = Self(rawValue: 5)
    public static let dataInband = Self(rawValue: 6)
    public static let dataUsingTransferPages = Self(rawValue: 7)
    public static let dataUsingGPADL = Self(rawValue: 8)
    public static let dataUsingGPADirect = Self(rawValue: 9)
    public static let cancelRequest = Self(rawValue: 0xA)
    public static let completion = Self(rawValue: 0xB)
    public static let additionalPacket = Self(rawValue: 0xC)
    public static let additionalData = Self(rawValue: 0xD)
    public var description: String { "VMBusPacketType(\(rawValue))" }
}

/// `struct vmpacket_descriptor { u16 type; u16 offset8; u16 len8; u16 flags; u64 trans_id; }`.
/// `offset8` and `len8` count 8-byte units from the descriptor's start; `len8` covers the whole
/// packet without the trailer.
public struct PacketDescriptor: Hashable, Sendable {
    public static let size = 16
    /// `VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED`.
    public static let completionRequested: UInt16 = 1

    public var type: VMBusPacketType
    public var offset8: UInt16
    public var len8: UInt16
    public var flags: UInt16
    public var transactionID: UInt64

    public init(type: VMBusPacketType, offset8: UInt16, len8: UInt16, flags: UInt16, transactionID: UInt64) {
        self.type = type
        self.offset8 = offset8
        self.len8 = len8
        self.flags = flags
        self.transactionID = transactionID
    }

    /// Decodes and validates a descriptor: `offset8*8 ≥ 16` and `offset8 ≤ len8`.
    public static func decode(_ r: WireReader, at base: Int = 0) throws(WireError) -> Self {
        let descriptor = Self(
            type: VMBusPacketType(rawValue: try r.load(at: base)), offset8: try r.load(at: base + 2),
            len8: try r.load(at: base + 4), flags: try r.load(at: base + 6), transactionID: try r.load(at: base + 8))
        guard Int(descriptor.offset8) * 8 >= size, descriptor.offset8 <= descriptor.len8 else {
            throw .invalidField("packet offset8 \(descriptor.offset8) / len8 \(descriptor.len8)")
        }
        return descriptor
    }

    public func encode(into w: inout WireWriter, at base: Int = 0) {
        w.store(type.rawValue, at: base)
        w.store(offset8, at: base + 2)
        w.store(len8, at: base + 4)
        w.store(flags, at: base + 6)
        w.store(transactionID, at: base + 8)
    }
}

/// One range of a GPA-direct packet or a GPADL: `{ u32 byte_count; u32 byte_offset; u64 pfn[] }`
/// with `pfn` count `ceil((byte_offset + byte_count) / 4096)`.
public struct GPARange: Hashable, Sendable {
    public var byteCount: UInt32
    public var byteOffset: UInt32
    public var pfns: [UInt64]

    public init(byteCount: UInt32, byteOffset: UInt32, pfns: [UInt64]) {
        self.byteCount = byteCount
        self.byteOffset = byteOffset
        self.pfns = pfns
    }

    /// The PFN count the range's offset and length imply.
    public static func pageCount(byteOffset: UInt32, byteCount: UInt32) -> Int {
        Int((UInt64(byteOffset) + UInt64(byteCount) + 4095) / 4096)
    }

    /// Decodes `count` ranges from `r` starting at `offset`, at most `maxPages` PFNs in all.
    /// - Returns: the ranges and the offset just past them.
    public static func decodeRanges(
        _ r: WireReader, at offset: Int, count: Int, maxPages: Int
    ) throws(WireError) -> (ranges: [GPARange], end: Int) {
        var ranges: [GPARange] = []
        var cursor = offset
        var totalPages = 0
        for _ in 0..<count {
            let byteCount: UInt32 = try r.load(at: cursor)
            let byteOffset: UInt32 = try r.load(at: cursor + 4)
            guard byteOffset < 4096, byteCount > 0 else {
                throw .invalidField("range byte_offset \(byteOffset) byte_count \(byteCount)")
            }
            let pages = pageCount(byteOffset: byteOffset, byteCount: byteCount)
            totalPages += pages
            guard totalPages <= maxPages else { throw .invalidField("range has \(totalPages) pages, cap \(maxPages)") }
            cursor += 8
            guard r.count - cursor >= pages * 8 else {
                throw .truncated(needed: pages * 8, at: cursor, available: r.count - cursor)
            }
            var pfns: [UInt64] = []
            pfns.reserveCapacity(pages)
            for index in 0..<pages { pfns.append(try r.load(at: cursor + index * 8)) }
            cursor += pages * 8
            ranges.append(GPARange(byteCount: byteCount, byteOffset: byteOffset, pfns: pfns))
        }
        return (ranges, cursor)
    }

    /// Encodes the range as `byte_count, byte_offset, pfn[]`.
    public func encode(into w: inout WireWriter, at offset: Int) -> Int {
        w.store(byteCount, at: offset)
        w.store(byteOffset, at: offset + 4)
        for (index, pfn) in pfns.enumerated() { w.store(pfn, at: offset + 8 + index * 8) }
        return offset + 8 + pfns.count * 8
    }
}

/// The header after the descriptor of a DATA_USING_GPA_DIRECT packet: `u32 reserved; u32 rangecount;`
/// then `rangecount` `GPARange`s.
public enum GPADirectLayout {
    public static let rangeCountOffset = 20
    public static let rangesOffset = 24
}

/// `vmtransfer_page_packet_header { desc; u16 xfer_pageset_id @16; u8 sender_owns_set @18;
/// u8 reserved; u32 range_cnt @20; vmtransfer_page_range ranges[] @24 }`, each range
/// `{ u32 byte_count; u32 byte_offset; }`.
public struct TransferPageHeader: Hashable, Sendable {
    public struct Range: Hashable, Sendable {
        public var byteCount: UInt32
        public var byteOffset: UInt32
        public init(byteCount: UInt32, byteOffset: UInt32) {
            self.byteCount = byteCount
            self.byteOffset = byteOffset
        }
    }
    public static let rangesOffset = 24
    public var transferPageSetID: UInt16
    public var senderOwnsSet: Bool
    public var ranges: [Range]

    public init(transferPageSetID: UInt16, senderOwnsSet: Bool, ranges: [Range]) {
        self.transferPageSetID = transferPageSetID
        self.senderOwnsSet = senderOwnsSet
        self.ranges = ranges
    }

    /// Bytes from the descriptor's start to the end of the ranges.
    public var encodedSize: Int { Self.rangesOffset + 8 * ranges.count }

    /// Decodes the header from a whole packet (descriptor included), checking that the ranges end
    /// before the payload offset `offset8 * 8`.
    public static func decode(packet r: WireReader, descriptor: PacketDescriptor) throws(WireError) -> Self {
        let id: UInt16 = try r.load(at: 16)
        let owns: UInt8 = try r.load(at: 18)
        let count: UInt32 = try r.load(at: 20)
        guard UInt64(rangesOffset) + 8 * UInt64(count) <= UInt64(descriptor.offset8) * 8 else {
            throw .invalidField("transfer page range count \(count) beyond offset8 \(descriptor.offset8)")
        }
        var ranges: [Range] = []
        for index in 0..<Int(count) {
            ranges.append(
                Range(byteCount: try r.load(at: rangesOffset + 8 * index), byteOffset: try r.load(at: rangesOffset + 8 * index + 4)))
        }
        return Self(transferPageSetID: id, senderOwnsSet: owns != 0, ranges: ranges)
    }

    public func encode(into w: inout WireWriter) {
        w.store(transferPageSetID, at: 16)
        w.store(UInt8(senderOwnsSet ? 1 : 0), at: 18)
        w.store(UInt32(ranges.count), at: 20)
        for (index, range) in ranges.enumerated() {
            w.store(range.byteCount, at: Self.rangesOffset + 8 * index)
            w.store(range.byteOffset, at: Self.rangesOffset + 8 * index + 4)
        }
    }
}
