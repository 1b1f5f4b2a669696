import GuestMemory

/// The host's side of the guest → host ring: the host is the reader.
///
/// The host keeps its own read index (the guest could scribble the shared one) and validates the
/// guest's write index on every read. Mirrors Linux `hv_pkt_iter_first/next/close` from the
/// reader's side (protocol doc §8.5).
struct RingReader: Sendable {
    let ring: GuestRing
    /// The host's private read index, published to the header after each batch.
    private(set) var readIndex: UInt32
    /// The largest packet accepted (descriptor included, trailer excluded).
    let maxPacketSize: Int

    init(ring: GuestRing, maxPacketSize: Int) throws(RingError) {
        self.ring = ring
        self.maxPacketSize = maxPacketSize
        let read = try ring.load(RingBufferLayout.readIndexOffset)
        let write = try ring.load(RingBufferLayout.writeIndexOffset)
        guard ring.validIndex(read), ring.validIndex(write) else {
            throw .corrupt("initial indices read \(read) write \(write)")
        }
        readIndex = read
    }

    /// A reader resuming at a saved private read index (restore); the shared indices are
    /// validated as on open.
    init(ring: GuestRing, maxPacketSize: Int, readIndex: UInt32) throws(RingError) {
        try self.init(ring: ring, maxPacketSize: maxPacketSize)
        guard ring.validIndex(readIndex) else { throw .corrupt("saved read index \(readIndex) outside \(ring.dataSize)") }
        self.readIndex = readIndex
    }

    /// Bytes the guest has written and the host has not read yet.
    func bytesAvailable() throws(RingError) -> UInt32 {
        let write = try ring.load(RingBufferLayout.writeIndexOffset)
        guard ring.validIndex(write) else { throw .corrupt("write index \(write) outside \(ring.dataSize)") }
        return write >= readIndex ? write - readIndex : ring.dataSize - readIndex + write
    }

    /// Copies the next packet out of the ring and advances the private read index past it and
    /// its trailer. Returns `nil` when the ring is empty.
    /// - Throws: `RingError.corrupt` for a descriptor that does not fit what was written.
    mutating func next() throws(RingError) -> VMBusPacket? {
        let available = Int(try bytesAvailable())
        if available == 0 { return nil }
        guard available >= PacketDescriptor.size + RingBufferLayout.trailerSize else {
            throw .corrupt("\(available) bytes available, less than a packet")
        }
        let header = try ring.copyOut(from: readIndex, count: PacketDescriptor.size)
        let descriptor: PacketDescriptor
        do { descriptor = try PacketDescriptor.decode(WireReader(header)) } catch {
            throw .corrupt("bad descriptor: \(error)")
        }
        let length = Int(descriptor.len8) * 8
        guard length <= maxPacketSize else { throw .packetTooLarge(length) }
        guard length + RingBufferLayout.trailerSize <= available else {
            throw .corrupt("packet of \(length) bytes, \(available) available")
        }
        let bytes = try ring.copyOut(from: readIndex, count: length)
        readIndex = UInt32((Int(readIndex) + length + RingBufferLayout.trailerSize) % Int(ring.dataSize))
        return VMBusPacket(descriptor: descriptor, bytes: bytes)
    }

    /// Publishes the read index and reports whether the guest (the writer) must be signalled:
    /// it set `pending_send_sz` and the free space crossed it in this batch (`hv_pkt_iter_close`).
    func publish(readSince start: UInt32) throws(RingError) -> Bool {
        GuestMemory.fence()
        try ring.store(readIndex, RingBufferLayout.readIndexOffset)
        GuestMemory.fence()
        let features = try ring.load(RingBufferLayout.featureBitsOffset)
        guard features & RingBufferLayout.featurePendingSendSize != 0 else { return false }
        let pending = try ring.load(RingBufferLayout.pendingSendSizeOffset) & ~7
        if pending == 0 { return false }
        let write = try ring.load(RingBufferLayout.writeIndexOffset)
        guard ring.validIndex(write) else { return false }
        let free = write >= readIndex ? ring.dataSize - (write - readIndex) : readIndex - write
        let read = readIndex >= start ? readIndex - start : ring.dataSize - start + readIndex
        // Enough space already before this batch: the writer was not waiting on us.
        if free >= read, free - read > pending { return false }
        return free > pending
    }

    /// Sets the host's interrupt mask on this ring: while set the guest does not signal.
    func setInterruptMask(_ masked: Bool) throws(RingError) {
        try ring.store(masked ? 1 : 0, RingBufferLayout.interruptMaskOffset)
    }
}
