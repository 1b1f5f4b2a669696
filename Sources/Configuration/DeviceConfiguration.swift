import Foundation

/// A virtual disk attached to the VM's synthetic SCSI controller (Hyper-V's "SCSI controller",
/// seen by the guest's `hv_storvsc`). The file is raw or VHDX (fixed, dynamic or differencing).
public struct DiskAttachment: Codable, Sendable, Hashable {
    /// Path of the image on the host (absolute for hvd; hv-worker also accepts relative paths).
    public var path: String
    /// SCSI logical unit on the one controller; `nil` takes the lowest free one (0, 1, ...).
    public var lun: UInt8?
    /// Present the disk write-protected: the guest sees a read-only device, the file is opened
    /// read-only.
    public var readOnly: Bool

    public init(path: String, lun: UInt8? = nil, readOnly: Bool = false) {
        self.path = path
        self.lun = lun
        self.readOnly = readOnly
    }

    private enum CodingKeys: String, CodingKey { case path, lun, readOnly }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        lun = try c.decodeIfPresent(UInt8.self, forKey: .lun)
        readOnly = try c.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
    }

    /// Highest LUN the storage device offers (storvsc scans 0...63 on one target).
    public static let maximumLUN: UInt8 = 63
}

/// A synthetic network adapter (the guest's `hv_netvsc`), connected to a host TAP interface
/// (SwiftHV's counterpart of a Hyper-V virtual switch port).
public struct NetworkAdapterConfiguration: Codable, Sendable, Hashable {
    /// Host TAP interface name (at most 15 bytes). The worker opens it, creating it when it has
    /// the right to (CAP_NET_ADMIN); an existing persistent TAP may be owned by the worker's user.
    public var tap: String
    /// The guest's MAC address, "xx:xx:xx:xx:xx:xx"; `nil` derives a stable one in Hyper-V's
    /// 00:15:5D range from the VM name and the adapter's position.
    public var macAddress: String?

    public init(tap: String, macAddress: String? = nil) {
        self.tap = tap
        self.macAddress = macAddress
    }

    private enum CodingKeys: String, CodingKey { case tap, macAddress }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        tap = try c.decode(String.self, forKey: .tap)
        macAddress = try c.decodeIfPresent(String.self, forKey: .macAddress)
    }

    /// Longest Linux interface name (IFNAMSIZ - 1).
    public static let maximumTapNameLength = 15
}

/// A MAC address, six bytes; parsed from and printed as "xx:xx:xx:xx:xx:xx".
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    private init(validBytes: [UInt8]) { self.bytes = validBytes }

    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    /// Multicast addresses (low bit of the first byte) cannot name one adapter.
    public var isUnicast: Bool { bytes[0] & 1 == 0 }

    /// A stable address in Hyper-V's 00:15:5D range, from a VM name and an adapter index
    /// (FNV-1a, so the same VM gets the same address on every start).
    public static func derived(vmName: String, adapterIndex: Int) -> MACAddress {
        var hash: UInt32 = 2_166_136_261
        for byte in Array(vmName.utf8) + Array(String(adapterIndex).utf8) + [0] {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return MACAddress(validBytes: [0x00, 0x15, 0x5D, UInt8(truncatingIfNeeded: hash), UInt8(truncatingIfNeeded: hash >> 8), UInt8(truncatingIfNeeded: hash >> 16)])
    }
}

extension NetworkAdapterConfiguration {
    /// The address the guest gets: the configured one, else the derived one.
    public func effectiveMACAddress(vmName: String, index: Int) -> MACAddress? {
        guard let macAddress else { return .derived(vmName: vmName, adapterIndex: index) }
        return MACAddress(macAddress)
    }
}
