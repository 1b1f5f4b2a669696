/// MS-VHDX §2.2.1 File Type Identifier, at offset 0, 64 KiB.
///
/// | offset | size | field |
/// |-------:|-----:|-------|
/// | 0 | 8 | Signature `vhdxfile` (0x656C_6966_7864_6876) |
/// | 8 | 512 | Creator, UTF-16LE, optional, NUL padded |
struct VHDXFileIdentifier: Equatable {
    static let signature: UInt64 = 0x656C_6966_7864_6876
    static let encodedSize = 8 + 512

    var creator: String

    init(creator: String) { self.creator = creator }

    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX file identifier")
        guard try reader.u64(0) == Self.signature else {
            throw VirtualDiskError.corrupt("not a VHDX file: the file identifier at offset 0 is not 'vhdxfile'")
        }
        var creatorBytes = try reader.slice(8, 512)
        // Trim at the first UTF-16 NUL.
        var end = 0
        while end + 1 < creatorBytes.count, creatorBytes[end] != 0 || creatorBytes[end + 1] != 0 { end += 2 }
        creatorBytes.removeSubrange(end...)
        creator = stringFromUTF16LE(creatorBytes)
    }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(count: Self.encodedSize)
        writer.u64(0, Self.signature)
        writer.raw(8, Array(utf16LE(creator).prefix(510)))
        return writer.bytes
    }
}
