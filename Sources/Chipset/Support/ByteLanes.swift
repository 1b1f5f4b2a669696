/// Splits wide port accesses into byte accesses, the way an ISA bus presents a 16- or 32-bit
/// access to an 8-bit device: byte `i` of the value goes to (or comes from) `offset + i`.
///
/// Bytes that fall outside the device's `span` read as 0xFF and are dropped on write, so a
/// hostile `inl` at the last port of a device never reaches a neighbour or traps.
enum ByteLanes {
    /// Assembles a little-endian value of `width` bytes from `readByte(offset + i)`.
    static func read(
        offset: UInt16, width: AccessWidth, span: UInt16, _ readByte: (UInt16) -> UInt8
    ) -> UInt64 {
        var value: UInt64 = 0
        for lane in 0..<width.rawValue {
            let (port, overflow) = offset.addingReportingOverflow(UInt16(lane))
            let byte: UInt8 = (overflow || port >= span) ? 0xFF : readByte(port)
            value |= UInt64(byte) << (UInt64(lane) * 8)
        }
        return value
    }

    /// Hands each byte of `value` (little-endian) to `writeByte(offset + i, byte)`.
    static func write(
        offset: UInt16, width: AccessWidth, value: UInt64, span: UInt16, _ writeByte: (UInt16, UInt8) -> Void
    ) {
        for lane in 0..<width.rawValue {
            let (port, overflow) = offset.addingReportingOverflow(UInt16(lane))
            guard !overflow, port < span else { return }
            writeByte(port, UInt8(truncatingIfNeeded: value >> (UInt64(lane) * 8)))
        }
    }
}
