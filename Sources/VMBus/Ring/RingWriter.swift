import GuestMemory

/// The host's side of the host → guest ring: the host is the writer.
///
/// Mirrors Linux `hv_ringbuffer_write` and `hv_signal_on_write` (protocol doc §8.5): packets are
/// the descriptor, payload padded to 8 bytes and an 8-byte trailer holding the old write index;
/// the ring is never filled completely; the guest is signalled only when the ring was empty
/// before the write and the guest's interrupt mask is clear.
struct RingWriter: Sendable {
    let ring: GuestRing
    /// The host's private write index (the shared one is only ever stored, never trusted).
    private(set) var writeIndex: UInt32

    init(ring: GuestRing) throws(RingError) {
        self.ring = ring
        let read = try ring.load(RingBufferLayout.readIndexOffset)
        let write = try ring.load(RingBufferLayout.writeIndexOffset)
        guard ring.validIndex(read), ring.validIndex(write) else {
            throw .corrupt("initial indices read \(read) write \(write)")
        }
        writeIndex = write
    }

    /// A writer resuming at a saved private write index (restore).
    init(ring: GuestRing, writeIndex: UInt32) throws(RingError) {
        try self.init(ring: ring)
        guard ring.validIndex(writeIndex) else { throw .corrupt("saved write index \(writeIndex) outside \(ring.dataSize)") }
        self.writeIndex = writeIndex
    }

    /// Free bytes, from the guest's read index (validated).
    func bytesFree() throws(RingError) -> UInt32 {
        let read = try ring.load(RingBufferLayout.readIndexOffset)
        guard ring.validIndex(read) else { throw .corrupt("read index \(read) outside \(ring.dataSize)") }
        return writeIndex >= read ? ring.dataSize - (writeIndex - read) : read - writeIndex
    }

    /// Writes one packet (already laid out: descriptor, payload, padding).
    /// - Returns: whether the guest should be signalled.
    /// - Throws: `RingError.full` when it does not fit (then `pending_send_sz` is set so the guest
    ///   signals when it has read enough), or `.corrupt` for an out-of-range read index.
    mutating func write(_ packet: [UInt8]) throws(RingError) -> Bool {
        let total = packet.count + RingBufferLayout.trailerSize
        guard total < Int(ring.dataSize) else { throw .packetTooLarge(packet.count) }
        let free = Int(try bytesFree())
        guard free > total else {
            try ring.store(UInt32(total), RingBufferLayout.pendingSendSizeOffset)
            throw .full(needed: total, available: free)
        }
        let old = writeIndex
        var trailer = WireWriter(size: 8)
        trailer.store(UInt64(old) << 32, at: 0)
        try ring.copyIn(packet + trailer.bytes, at: old)
        writeIndex = UInt32((Int(old) + total) % Int(ring.dataSize))
        GuestMemory.fence()
        try ring.store(writeIndex, RingBufferLayout.writeIndexOffset)
        GuestMemory.fence()
        if try ring.load(RingBufferLayout.interruptMaskOffset) != 0 { return false }
        return try ring.load(RingBufferLayout.readIndexOffset) == old
    }

    /// Clears `pending_send_sz` once the space the host waited for is there.
    func clearPendingSendSize() throws(RingError) {
        try ring.store(0, RingBufferLayout.pendingSendSizeOffset)
    }
}
