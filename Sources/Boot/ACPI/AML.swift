/// An ACPI namespace path: an optional root (`\`) or parent prefixes (`^`), then 4-character
/// NameSegs separated by dots, e.g. `\_SB.COM1`, `_HID`, `^STA`. Segments shorter than four
/// characters are padded with `_` (ACPI 6.5 §20.2.2).
public struct AMLName: Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let root: Bool
    public let parentPrefixes: Int
    public let segments: [[UInt8]]

    /// Parses a path; `nil` when a segment is empty, longer than 4 characters, or holds
    /// characters other than A-Z, 0-9 and `_` (digits not first).
    public init?(_ path: String) {
        var rest = Substring(path)
        root = rest.first == "\\"
        if root { rest = rest.dropFirst() }
        var carets = 0
        while !root, rest.first == "^" {
            carets += 1
            rest = rest.dropFirst()
        }
        parentPrefixes = carets
        var segments: [[UInt8]] = []
        if !rest.isEmpty {
            for part in rest.split(separator: ".", omittingEmptySubsequences: false) {
                let chars = Array(part.utf8)
                guard (1...4).contains(chars.count) else { return nil }
                for (i, c) in chars.enumerated() {
                    let upper = (0x41...0x5A).contains(c)
                    let digit = (0x30...0x39).contains(c)
                    guard upper || c == 0x5F || (digit && i > 0) else { return nil }
                }
                segments.append(chars + [UInt8](repeating: 0x5F, count: 4 - chars.count))
            }
        }
        self.segments = segments
    }

    /// A name written in our own code; an invalid literal is a programming error.
    public init(stringLiteral value: String) {
        guard let name = AMLName(value) else { preconditionFailure("invalid AML name literal \(value)") }
        self = name
    }

    /// The NameString encoding (ACPI 6.5 §20.2.2): prefixes, then NullName, a NameSeg,
    /// DualNamePrefix (0x2E) + 2 segs, or MultiNamePrefix (0x2F) + count + segs.
    public var encoded: [UInt8] {
        var out: [UInt8] = root ? [0x5C] : [UInt8](repeating: 0x5E, count: parentPrefixes)
        switch segments.count {
        case 0: out.append(0x00)
        case 1: out += segments[0]
        case 2: out += [0x2E] + segments[0] + segments[1]
        default:
            out += [0x2F, UInt8(truncatingIfNeeded: segments.count)]
            for s in segments { out += s }
        }
        return out
    }

    public var description: String {
        (root ? "\\" : String(repeating: "^", count: parentPrefixes))
            + segments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: ".")
    }
}

/// A compressed EISA ID such as `PNP0501`: three letters A-Z and four hex digits, encoded as the
/// 32-bit value ASL's `EisaId()` produces.
public struct EISAID: Sendable, Hashable, ExpressibleByStringLiteral {
    public let value: UInt32

    public init?(_ id: String) {
        let c = Array(id.utf8)
        guard c.count == 7, c[0..<3].allSatisfy({ (0x41...0x5A).contains($0) }) else { return nil }
        var digits: UInt32 = 0
        for ch in c[3..<7] {
            guard let d = Int(String(UnicodeScalar(ch)), radix: 16) else { return nil }
            digits = digits << 4 | UInt32(d)
        }
        let letters = UInt32(c[0] - 0x40) << 10 | UInt32(c[1] - 0x40) << 5 | UInt32(c[2] - 0x40)
        // Stored big-endian: letters (15 bits) then the four digits, then byte-swapped.
        value = (letters << 16 | digits).byteSwapped
    }

    public init(stringLiteral value: String) {
        guard let id = EISAID(value) else { preconditionFailure("invalid EISA ID literal \(value)") }
        self = id
    }
}

/// A piece of AML: a term, an object or a data value, as encoded bytes. The static builders
/// cover what our DSDT needs (ACPI 6.5 §20 "ACPI Machine Language Specification").
public struct AMLTerm: Sendable, Hashable {
    public var bytes: [UInt8]
    public init(bytes: [UInt8]) { self.bytes = bytes }

    // MARK: Encodings

    /// PkgLength for a package whose contents after the PkgLength are `payload` bytes; the
    /// encoded length counts its own bytes (§20.2.4). 1 byte up to 63, else 2-4 bytes with the
    /// count in bits 7-6 of the lead byte and its low nibble in bits 3-0.
    public static func pkgLength(payload: Int) -> [UInt8] {
        precondition(payload >= 0 && payload < (1 << 28) - 4, "AML package too large")
        if payload + 1 <= 0x3F { return [UInt8(payload + 1)] }
        for extra in 1...3 {
            let total = payload + 1 + extra
            guard total < 1 << (4 + 8 * extra) else { continue }
            var out: [UInt8] = [UInt8(extra << 6) | UInt8(total & 0x0F)]
            for i in 0..<extra { out.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * i))) }
            return out
        }
        preconditionFailure("unreachable: payload bounded above")
    }

    /// `op PkgLength contents`.
    static func package(op: [UInt8], _ contents: [UInt8]) -> AMLTerm {
        AMLTerm(bytes: op + pkgLength(payload: contents.count) + contents)
    }

    // MARK: Data

    /// The smallest integer encoding: ZeroOp, OneOp, OnesOp, or Byte/Word/DWord/QWord const.
    public static func integer(_ v: UInt64) -> AMLTerm {
        var out: [UInt8]
        switch v {
        case 0: return AMLTerm(bytes: [0x00])
        case 1: return AMLTerm(bytes: [0x01])
        case UInt64.max: return AMLTerm(bytes: [0xFF])
        case ...0xFF: out = [0x0A]; out.appendLE(UInt8(v))
        case ...0xFFFF: out = [0x0B]; out.appendLE(UInt16(v))
        case ...0xFFFF_FFFF: out = [0x0C]; out.appendLE(UInt32(v))
        default: out = [0x0E]; out.appendLE(v)
        }
        return AMLTerm(bytes: out)
    }

    /// A String constant (0x0D, ASCII, NUL). Non-ASCII or NUL characters become '?'.
    public static func string(_ s: String) -> AMLTerm {
        let chars = s.utf8.map { (0x01...0x7F).contains($0) ? $0 : 0x3F }
        return AMLTerm(bytes: [0x0D] + chars + [0x00])
    }

    /// An EISA ID as its DWord integer, the form `_HID` takes for PNP IDs.
    public static func eisaID(_ id: EISAID) -> AMLTerm {
        var out: [UInt8] = [0x0C]
        out.appendLE(id.value)
        return AMLTerm(bytes: out)
    }

    /// `Buffer (n) { bytes }`.
    public static func buffer(_ data: [UInt8]) -> AMLTerm {
        package(op: [0x11], integer(UInt64(data.count)).bytes + data)
    }

    /// `Package () { elements }` (at most 255 elements).
    public static func package(_ elements: [AMLTerm]) -> AMLTerm {
        precondition(elements.count <= 255, "Package holds at most 255 elements")
        return package(op: [0x12], [UInt8(elements.count)] + elements.flatMap(\.bytes))
    }

    /// A reference to a named object (its NameString).
    public static func reference(_ name: AMLName) -> AMLTerm { AMLTerm(bytes: name.encoded) }

    /// `Local0`-`Local7`.
    public static func local(_ n: Int) -> AMLTerm {
        precondition((0...7).contains(n))
        return AMLTerm(bytes: [0x60 + UInt8(n)])
    }

    /// `Arg0`-`Arg6`.
    public static func arg(_ n: Int) -> AMLTerm {
        precondition((0...6).contains(n))
        return AMLTerm(bytes: [0x68 + UInt8(n)])
    }

    // MARK: Named objects and scopes

    /// `Name (name, value)`.
    public static func name(_ name: AMLName, _ value: AMLTerm) -> AMLTerm {
        AMLTerm(bytes: [0x08] + name.encoded + value.bytes)
    }

    /// `Scope (name) { terms }`.
    public static func scope(_ name: AMLName, _ terms: [AMLTerm]) -> AMLTerm {
        package(op: [0x10], name.encoded + terms.flatMap(\.bytes))
    }

    /// `Device (name) { terms }`.
    public static func device(_ name: AMLName, _ terms: [AMLTerm]) -> AMLTerm {
        package(op: [0x5B, 0x82], name.encoded + terms.flatMap(\.bytes))
    }

    /// `Method (name, args, Serialized|NotSerialized) { terms }`.
    public static func method(_ name: AMLName, arguments: Int = 0, serialized: Bool = false, _ terms: [AMLTerm])
        -> AMLTerm
    {
        precondition((0...7).contains(arguments))
        let flags = UInt8(arguments) | (serialized ? 0x08 : 0)
        return package(op: [0x14], name.encoded + [flags] + terms.flatMap(\.bytes))
    }

    // MARK: Statements and expressions

    /// `Return (value)`.
    public static func ret(_ value: AMLTerm) -> AMLTerm { AMLTerm(bytes: [0xA4] + value.bytes) }

    /// `Store (source, destination)`.
    public static func store(_ source: AMLTerm, _ destination: AMLTerm) -> AMLTerm {
        AMLTerm(bytes: [0x70] + source.bytes + destination.bytes)
    }

    /// `And (a, b, target)`; a nil target is NullName.
    public static func and(_ a: AMLTerm, _ b: AMLTerm, _ target: AMLTerm?) -> AMLTerm {
        AMLTerm(bytes: [0x7B] + a.bytes + b.bytes + (target?.bytes ?? [0x00]))
    }

    /// `Or (a, b, target)`; a nil target is NullName.
    public static func or(_ a: AMLTerm, _ b: AMLTerm, _ target: AMLTerm?) -> AMLTerm {
        AMLTerm(bytes: [0x7D] + a.bytes + b.bytes + (target?.bytes ?? [0x00]))
    }
}
