/// MS-VHDX §2.6.2.6 Parent Locator item.
///
/// Header (20 bytes): LocatorType GUID @0 (`B04AEFB7-D19E-4A81-B789-25B8E9445913` for VHDX
/// parents), Reserved u16 @16, KeyValueCount u16 @18.
/// Entry (§2.6.2.6.1, 12 bytes each from offset 20): KeyOffset u32 @0, ValueOffset u32 @4,
/// KeyLength u16 @8, ValueLength u16 @10; offsets are from the start of the item, strings
/// UTF-16LE without terminator. Keys (§2.6.2.6.2): `parent_linkage`, `parent_linkage2`,
/// `relative_path`, `volume_path`, `absolute_win32_path`.
struct VHDXParentLocator: Equatable {
    var locatorType: GUID
    /// Key/value pairs in file order.
    var entries: [(key: String, value: String)]

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.locatorType == rhs.locatorType && lhs.entries.map(\.key) == rhs.entries.map(\.key)
            && lhs.entries.map(\.value) == rhs.entries.map(\.value)
    }

    init(locatorType: GUID = VHDXGUIDs.vhdxParentLocatorType, entries: [(key: String, value: String)]) {
        self.locatorType = locatorType
        self.entries = entries
    }

    subscript(key: String) -> String? { entries.first { $0.key == key }?.value }

    init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes, what: "VHDX parent locator")
        locatorType = try reader.guid(0)
        let count = Int(try reader.u16(18))
        guard 20 + count * 12 <= bytes.count else { throw VirtualDiskError.corrupt("VHDX parent locator has \(count) entries, more than fit in the item") }
        entries = try (0..<count).map { index in
            let base = 20 + index * 12
            let keyOffset = Int(try reader.u32(base))
            let valueOffset = Int(try reader.u32(base + 4))
            let keyLength = Int(try reader.u16(base + 8))
            let valueLength = Int(try reader.u16(base + 10))
            guard keyLength > 0, valueLength > 0 else { throw VirtualDiskError.corrupt("VHDX parent locator entry \(index) has an empty key or value") }
            let key = stringFromUTF16LE(try reader.slice(keyOffset, keyLength))
            let value = stringFromUTF16LE(try reader.slice(valueOffset, valueLength))
            return (key, value)
        }
    }

    func encoded() -> [UInt8] {
        var strings: [UInt8] = []
        var table = ByteWriter(count: 20 + entries.count * 12)
        table.guid(0, locatorType)
        table.u16(18, UInt16(entries.count))
        let stringBase = 20 + entries.count * 12
        for (index, entry) in entries.enumerated() {
            let key = utf16LE(entry.key)
            let value = utf16LE(entry.value)
            let base = 20 + index * 12
            table.u32(base, UInt32(stringBase + strings.count))
            strings += key
            table.u32(base + 4, UInt32(stringBase + strings.count))
            strings += value
            table.u16(base + 8, UInt16(key.count))
            table.u16(base + 10, UInt16(value.count))
        }
        return table.bytes + strings
    }
}
