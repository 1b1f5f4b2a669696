/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven, as MS-VHDX §2.2.2
/// requires for headers, region tables and log entries.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// Checksum of `bytes` (initial value all ones, final XOR all ones).
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        update(0xFFFF_FFFF, bytes[...]) ^ 0xFFFF_FFFF
    }

    /// Continues a running (not yet finalised) CRC over more bytes. Deliberately not generic:
    /// a concrete index loop stays fast even in debug builds, where tests run.
    static func update(_ crc: UInt32, _ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc = crc
        let table = Self.table
        var index = bytes.startIndex
        let end = bytes.endIndex
        while index < end {
            crc = table[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
            index += 1
        }
        return crc
    }

    /// Checksum of `bytes` with the 4-byte checksum field at `fieldOffset` taken as zero.
    static func checksum(_ bytes: [UInt8], zeroingFieldAt fieldOffset: Int) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        crc = update(crc, bytes[0..<fieldOffset])
        crc = update(crc, [0, 0, 0, 0][...])
        crc = update(crc, bytes[(fieldOffset + 4)...])
        return crc ^ 0xFFFF_FFFF
    }
}
