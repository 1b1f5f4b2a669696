/// A bus/device/function triple on PCI configuration mechanism #1.
public struct PCIAddress: Hashable, Sendable, CustomStringConvertible {
    public let bus: UInt8
    public let device: UInt8
    public let function: UInt8

    /// - Returns: nil unless `device` < 32 and `function` < 8.
    public init?(bus: UInt8 = 0, device: UInt8, function: UInt8 = 0) {
        guard device < 32, function < 8 else { return nil }
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// The function selected by a CONFIG_ADDRESS value.
    init(configAddress value: UInt32) {
        bus = UInt8(truncatingIfNeeded: value >> 16)
        device = UInt8(truncatingIfNeeded: value >> 11) & 0x1F
        function = UInt8(truncatingIfNeeded: value >> 8) & 0x07
    }

    public var description: String {
        let hex = { (v: UInt8, width: Int) -> String in
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(hex(bus, 2)):\(hex(device, 2)).\(function)"
    }
}

/// A PCI function's 256-byte configuration space, as the host bridge sees it.
///
/// The bridge hands over only whole, aligned dwords: sub-dword guest accesses arrive as a
/// dword read, or as a dword write with `byteMask` naming the bytes the guest wrote (bit i =
/// byte i). Called on vCPU threads; implementations guard their own state.
public protocol PCIConfigDevice: AnyObject, Sendable {
    var name: String { get }
    /// Reads the dword at `offset` (a multiple of 4).
    func configRead(offset: UInt8) -> UInt32
    /// Writes the bytes of `value` selected by `byteMask` into the dword at `offset`
    /// (a multiple of 4).
    func configWrite(offset: UInt8, value: UInt32, byteMask: UInt8)
}

/// Why a function could not be placed on the bus.
public enum PCIRegistrationError: Error, Equatable, Sendable, CustomStringConvertible {
    case occupied(PCIAddress, existing: String)
    public var description: String {
        switch self {
        case .occupied(let address, let existing): "PCI slot \(address) is already used by \(existing)"
        }
    }
}

/// A configuration space image with a per-bit write mask: the building block for simple
/// PCI functions. Bits outside the mask are read-only.
public struct PCIConfigSpace: Sendable {
    public private(set) var bytes = [UInt8](repeating: 0, count: 256)
    private var writable = [UInt8](repeating: 0, count: 256)

    public init() {}

    /// Sets read-only contents (for header fields at build time).
    public mutating func set8(_ offset: UInt8, _ value: UInt8) { bytes[Int(offset)] = value }
    public mutating func set16(_ offset: UInt8, _ value: UInt16) {
        set8(offset, UInt8(truncatingIfNeeded: value))
        set8(offset &+ 1, UInt8(truncatingIfNeeded: value >> 8))
    }
    public mutating func set32(_ offset: UInt8, _ value: UInt32) {
        set16(offset, UInt16(truncatingIfNeeded: value))
        set16(offset &+ 2, UInt16(truncatingIfNeeded: value >> 16))
    }

    /// Lets the guest change the bits of `mask` in the byte at `offset`.
    public mutating func allowWrites(_ offset: UInt8, mask: UInt8) { writable[Int(offset)] = mask }

    public func read32(_ offset: UInt8) -> UInt32 {
        let base = Int(offset & 0xFC)
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[base + $1]) << (8 * UInt32($1)) }
    }

    public mutating func write32(_ offset: UInt8, value: UInt32, byteMask: UInt8) {
        let base = Int(offset & 0xFC)
        for lane in 0..<4 where byteMask & (1 << lane) != 0 {
            let mask = writable[base + lane]
            let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt32(lane)))
            bytes[base + lane] = (bytes[base + lane] & ~mask) | (byte & mask)
        }
    }
}
