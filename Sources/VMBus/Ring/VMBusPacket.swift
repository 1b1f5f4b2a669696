/// A packet copied out of the guest → host ring: the whole packet, descriptor included
/// (`len8 * 8` bytes, trailer excluded).
public struct VMBusPacket: Sendable, Equatable {
    public let descriptor: PacketDescriptor
    public let bytes: [UInt8]

    public init(descriptor: PacketDescriptor, bytes: [UInt8]) {
        self.descriptor = descriptor
        self.bytes = bytes
    }

    public var type: VMBusPacketType { descriptor.type }
    public var transactionID: UInt64 { descriptor.transactionID }
    public var completionRequested: Bool { descriptor.flags & PacketDescriptor.completionRequested != 0 }

    /// The bytes from `offset8 * 8` to the end of the packet (what Linux `vmbus_recvpacket` returns).
    public var payload: ArraySlice<UInt8> {
        let start = min(bytes.count, Int(descriptor.offset8) * 8)
        return bytes[start...]
    }

    /// The ranges of a DATA_USING_GPA_DIRECT packet, at most `maxPages` PFNs in all; they must end
    /// before the payload offset.
    public func gpaDirectRanges(maxPages: Int = 4096) throws(WireError) -> [GPARange] {
        guard type == .dataUsingGPADirect else { throw .invalidField("packet type \(type.rawValue) is not GPA direct") }
        let header = WireReader(Array(bytes.prefix(Int(descriptor.offset8) * 8)))
        let count: UInt32 = try header.load(at: GPADirectLayout.rangeCountOffset)
        guard count <= 1024 else { throw .invalidField("range count \(count)") }
        return try GPARange.decodeRanges(header, at: GPADirectLayout.rangesOffset, count: Int(count), maxPages: maxPages).ranges
    }

    /// The header of a DATA_USING_TRANSFER_PAGES packet.
    public func transferPageHeader() throws(WireError) -> TransferPageHeader {
        guard type == .dataUsingTransferPages else { throw .invalidField("packet type \(type.rawValue) is not transfer pages") }
        return try TransferPageHeader.decode(packet: WireReader(bytes), descriptor: descriptor)
    }

    /// Lays out a packet for the ring: descriptor, `header` (bytes between the descriptor and the
    /// payload), payload, zero padding to 8 bytes.
    /// - Returns: `nil` when the packet would exceed the 16-bit `len8` limit.
    public static func layout(
        type: VMBusPacketType, flags: UInt16, transactionID: UInt64, header: [UInt8] = [], payload: [UInt8]
    ) -> [UInt8]? {
        let headerLength = PacketDescriptor.size + header.count
        guard headerLength % 8 == 0 else { return nil }
        let unpadded = headerLength + payload.count
        let padded = (unpadded + 7) & ~7
        guard padded / 8 <= Int(UInt16.max) else { return nil }
        var writer = WireWriter(size: padded)
        PacketDescriptor(
            type: type, offset8: UInt16(headerLength / 8), len8: UInt16(padded / 8), flags: flags,
            transactionID: transactionID
        ).encode(into: &writer)
        writer.store(bytes: header, at: PacketDescriptor.size)
        writer.store(bytes: payload, at: headerLength)
        return writer.bytes
    }
}
