// The management API's device resources (`/v1/vms/{vm}/disks`, `/v1/vms/{vm}/network-adapters`),
// shared by `hvd` and `hv` (openapi/hvd.yaml). Requests are `DiskAttachment` and
// `NetworkAdapterConfiguration` themselves; these are the answers.

/// A disk as the API shows it (`Get-VMHardDiskDrive`, `virsh domblklist`): the effective LUN and
/// what the image is.
public struct VMDiskInfo: Codable, Sendable, Equatable {
    /// The SCSI LUN the guest sees it at.
    public var lun: UInt8
    public var path: String
    public var readOnly: Bool
    /// "raw" or "vhdx"; "unknown" when the image cannot be read now (moved, or held by a worker).
    public var format: String
    /// The size the guest sees, in bytes; nil when the image cannot be read now.
    public var virtualSizeBytes: UInt64?

    public init(lun: UInt8, path: String, readOnly: Bool, format: String, virtualSizeBytes: UInt64?) {
        self.lun = lun
        self.path = path
        self.readOnly = readOnly
        self.format = format
        self.virtualSizeBytes = virtualSizeBytes
    }
}

/// A network adapter as the API shows it (`Get-VMNetworkAdapter`, `virsh domiflist`).
public struct VMNetworkAdapterInfo: Codable, Sendable, Equatable {
    /// Its position in the VM's adapter list (the guest's probe order).
    public var index: Int
    /// The host TAP interface.
    public var tap: String
    /// The guest's MAC address, "xx:xx:xx:xx:xx:xx" (the configured one or the derived one).
    public var macAddress: String

    public init(index: Int, tap: String, macAddress: String) {
        self.index = index
        self.tap = tap
        self.macAddress = macAddress
    }
}
