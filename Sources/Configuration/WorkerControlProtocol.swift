import Foundation

/// One message on the control channel between `hvd` and an `hv-worker` (both directions).
///
/// Wire format: a 4-byte big-endian length, then this struct as JSON (SocketTransport `Frame`).
/// `version` is the protocol version; a side that receives a newer major version answers
/// `.error` and closes. New fields are optional so older peers still decode newer messages.
///
/// Conversation: the client sends a request (`status`, `turnOff`, `shutdown`, `pause`, `resume`,
/// `consoleAttach`, `addDisk`, `removeDisk`, `addNetworkAdapter`, `removeNetworkAdapter`) and
/// reads one reply (`ok`, `status`, `error`). The device requests are answered once the device
/// is offered to the guest or removed (`ok` with `disk` / `networkAdapter` pinned to the LUN
/// and MAC it got), or with `error` saying why. A worker that predates a
/// request kind answers `error` with "unknown request KIND" (`isUnknownRequest`), so new kinds
/// need no version bump. After a successful `consoleAttach` the
/// connection carries `consoleOutput` from the worker and `consoleInput` / `consoleBreak` from
/// the client until either side closes.
public struct ControlMessage: Codable, Sendable, Equatable {
    /// The protocol version this build speaks.
    public static let protocolVersion = 1

    public var version: Int
    public var kind: Kind
    /// Console bytes (base64 in JSON).
    public var data: Data?
    /// Why a request failed (`kind == .error`).
    public var error: String?
    public var status: WorkerStatus?
    /// The saved-state file of a `save` request (absent in every other message).
    public var path: String?
    /// The disk of `addDisk` (request: LUN optional; reply: LUN set).
    public var disk: DiskAttachment?
    /// The LUN of `removeDisk`.
    public var lun: UInt8?
    /// The adapter of `addNetworkAdapter` (request: MAC optional; reply: MAC set).
    public var networkAdapter: NetworkAdapterConfiguration?
    /// The address of `removeNetworkAdapter` ("xx:xx:xx:xx:xx:xx").
    public var macAddress: String?

    public init(
        _ kind: Kind, data: Data? = nil, error: String? = nil, status: WorkerStatus? = nil, disk: DiskAttachment? = nil,
        lun: UInt8? = nil, networkAdapter: NetworkAdapterConfiguration? = nil, macAddress: String? = nil, path: String? = nil
    ) {
        self.version = Self.protocolVersion
        self.kind = kind
        self.data = data
        self.error = error
        self.status = status
        self.path = path
        self.disk = disk
        self.lun = lun
        self.networkAdapter = networkAdapter
        self.macAddress = macAddress
    }

    /// The message kind: an open set, so an unknown kind from a newer peer decodes (and is refused).
    public struct Kind: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let status = Kind(rawValue: "status")
        /// Turn the VM off now (Hyper-V "Turn Off").
        public static let turnOff = Kind(rawValue: "turnOff")
        /// Ask the guest to shut down through the shutdown integration service.
        public static let shutdown = Kind(rawValue: "shutdown")
        /// Keep every vCPU out of the guest (Hyper-V "Pause" / Suspend-VM); devices keep their state.
        public static let pause = Kind(rawValue: "pause")
        /// Let a paused guest run again (Resume-VM).
        public static let resume = Kind(rawValue: "resume")
        /// Save-VM: pause, write the saved state to `path`, then stop (the worker exits with
        /// status 5, reason "saved"). Older workers answer "unknown request save".
        public static let save = Kind(rawValue: "save")
        public static let consoleAttach = Kind(rawValue: "consoleAttach")
        /// Attach `disk` to the running VM's SCSI controller (Add-VMHardDiskDrive).
        public static let addDisk = Kind(rawValue: "addDisk")
        /// Detach the disk at `lun` from the running VM (Remove-VMHardDiskDrive).
        public static let removeDisk = Kind(rawValue: "removeDisk")
        /// Add `networkAdapter` to the running VM (Add-VMNetworkAdapter).
        public static let addNetworkAdapter = Kind(rawValue: "addNetworkAdapter")
        /// Remove the adapter with `macAddress` from the running VM (Remove-VMNetworkAdapter).
        public static let removeNetworkAdapter = Kind(rawValue: "removeNetworkAdapter")
        public static let consoleInput = Kind(rawValue: "consoleInput")
        public static let consoleBreak = Kind(rawValue: "consoleBreak")
        public static let consoleOutput = Kind(rawValue: "consoleOutput")
        public static let ok = Kind(rawValue: "ok")
        public static let error = Kind(rawValue: "error")
    }

    /// The error prefix a worker answers an unknown request kind with.
    public static let unknownRequestPrefix = "unknown request"

    /// True when this is a worker's refusal of a request kind it does not know (an older worker).
    public var isUnknownRequest: Bool { kind == .error && (error ?? "").hasPrefix(Self.unknownRequestPrefix) }

    public func encoded() throws -> [UInt8] { Array(try JSONEncoder().encode(self)) }

    public static func decode(_ bytes: [UInt8]) throws -> ControlMessage {
        try JSONDecoder().decode(ControlMessage.self, from: Data(bytes))
    }
}

/// What a worker reports about itself.
public struct WorkerStatus: Codable, Sendable, Equatable {
    public var pid: Int32
    public var vmName: String
    /// "running" while the guest runs, "paused" while its vCPUs are paused, "stopping" once a
    /// stop was requested.
    public var phase: String
    public var uptimeSeconds: Double
    /// The guest's shutdown integration service is connected (graceful shutdown possible).
    public var gracefulShutdownAvailable: Bool
    /// The guest's vCPUs are paused (absent from workers that predate pause).
    public var paused: Bool?
    /// Exits to user space so far, one entry per vCPU in index order (absent from older workers).
    public var vcpuExits: [UInt64]?
    /// Exits per vCPU (index order) by reason (`io`, `mmio`, `msr`, `hlt`, `interrupted`, ...;
    /// absent from older workers).
    public var vcpuExitsByReason: [[String: UInt64]]?

    public init(
        pid: Int32, vmName: String, phase: String, uptimeSeconds: Double, gracefulShutdownAvailable: Bool,
        paused: Bool? = nil, vcpuExits: [UInt64]? = nil, vcpuExitsByReason: [[String: UInt64]]? = nil
    ) {
        self.pid = pid
        self.vmName = vmName
        self.phase = phase
        self.uptimeSeconds = uptimeSeconds
        self.gracefulShutdownAvailable = gracefulShutdownAvailable
        self.paused = paused
        self.vcpuExits = vcpuExits
        self.vcpuExitsByReason = vcpuExitsByReason
    }
}

/// The record a worker writes (`--exit-record PATH`) just before it exits, so a manager that was
/// not its parent (a restarted `hvd`) still learns why the VM stopped.
public struct WorkerExitRecord: Codable, Sendable, Equatable {
    /// "powerOff", "reset", "stopRequested", "error", "saved" or "buildFailed".
    public var reason: String
    public var message: String
    public var exitCode: Int32

    public init(reason: String, message: String, exitCode: Int32) {
        self.reason = reason
        self.message = message
        self.exitCode = exitCode
    }
}
