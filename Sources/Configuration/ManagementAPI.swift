import Foundation

// The management API's request and response types, shared by `hvd` and `hv` (openapi/hvd.yaml).

/// A VM's state, as in Hyper-V. An open set so a newer server's state decodes in an older client.
public struct VMState: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let off = VMState(rawValue: "Off")
    public static let starting = VMState(rawValue: "Starting")
    public static let running = VMState(rawValue: "Running")
    public static let paused = VMState(rawValue: "Paused")
    public static let saving = VMState(rawValue: "Saving")
    public static let saved = VMState(rawValue: "Saved")
    public static let stopping = VMState(rawValue: "Stopping")
    public static let resetting = VMState(rawValue: "Resetting")
    public static let all: [VMState] = [.off, .starting, .running, .paused, .saving, .saved, .stopping, .resetting]
}

/// What `hvd` does with a VM when it starts (Hyper-V `AutomaticStartAction`).
public enum AutomaticStartAction: String, Codable, Sendable, CaseIterable {
    case nothing = "Nothing"
    /// Start it if it was running when the host (or `hvd`) stopped.
    case startIfRunning = "StartIfRunning"
    case start = "Start"
}

/// What happens to a running VM when the host shuts down, applied by `POST /v1/host/stop-vms`
/// (`hv host stop-vms`; Hyper-V `AutomaticStopAction`). Plain `hvd` exits leave workers running.
public enum AutomaticStopAction: String, Codable, Sendable, CaseIterable {
    case turnOff = "TurnOff"
    /// Save-VM; a VM that cannot be saved is shut down instead.
    case save = "Save"
    /// A graceful stop through the shutdown integration service, turned off after the timeout.
    case shutDown = "ShutDown"
}

/// What `hvd` does when a VM's worker dies unexpectedly or the guest errors.
public enum RecoveryAction: String, Codable, Sendable, CaseIterable {
    case none = "None"
    case restart = "Restart"
}

/// A VM as the API shows it.
public struct VMInfo: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var state: VMState
    /// Why the VM is in its state (the last stop's reason, for example).
    public var stateReason: String?
    /// ISO 8601.
    public var createdAt: String
    public var configuration: VMConfiguration
    public var automaticStartAction: AutomaticStartAction
    public var automaticStopAction: AutomaticStopAction
    public var recoveryAction: RecoveryAction
    /// The worker's process id while one runs.
    public var workerPID: Int32?

    public init(
        id: String, name: String, state: VMState, stateReason: String?, createdAt: String, configuration: VMConfiguration,
        automaticStartAction: AutomaticStartAction, automaticStopAction: AutomaticStopAction, recoveryAction: RecoveryAction,
        workerPID: Int32?
    ) {
        self.id = id
        self.name = name
        self.state = state
        self.stateReason = stateReason
        self.createdAt = createdAt
        self.configuration = configuration
        self.automaticStartAction = automaticStartAction
        self.automaticStopAction = automaticStopAction
        self.recoveryAction = recoveryAction
        self.workerPID = workerPID
    }
}

/// How a request names the boot files: like `BootSource`, with `cmdline` optional.
public struct BootRequest: Codable, Sendable, Equatable {
    public var kernel: String
    public var initrd: String?
    /// Default "console=ttyS0".
    public var cmdline: String?
    public init(kernel: String, initrd: String? = nil, cmdline: String? = nil) {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
    }
    public var bootSource: BootSource {
        cmdline.map { BootSource(kernel: kernel, initrd: initrd, cmdline: $0) } ?? BootSource(kernel: kernel, initrd: initrd)
    }
}

/// `POST /v1/vms`. Unknown fields are refused (400), so a typo never silently becomes a default.
public struct CreateVMRequest: Codable, Sendable, Equatable {
    public var name: String
    public var memoryMiB: UInt64?
    public var cpus: Int?
    public var boot: BootRequest
    public var integrationServices: IntegrationServices?
    public var hyperV: Bool?
    public var hostProfile: HostProfileSetting?
    /// Disks on the SCSI controller (each checked as `POST /v1/vms/{vm}/disks` checks one).
    public var disks: [DiskAttachment]?
    /// Network adapters (each checked as `POST /v1/vms/{vm}/network-adapters` checks one).
    public var networkAdapters: [NetworkAdapterConfiguration]?
    public var notes: String?
    public var automaticStartAction: AutomaticStartAction?
    public var automaticStopAction: AutomaticStopAction?
    public var recoveryAction: RecoveryAction?

    public init(
        name: String, memoryMiB: UInt64? = nil, cpus: Int? = nil, boot: BootRequest, integrationServices: IntegrationServices? = nil,
        hyperV: Bool? = nil, hostProfile: HostProfileSetting? = nil, disks: [DiskAttachment]? = nil,
        networkAdapters: [NetworkAdapterConfiguration]? = nil, notes: String? = nil,
        automaticStartAction: AutomaticStartAction? = nil, automaticStopAction: AutomaticStopAction? = nil,
        recoveryAction: RecoveryAction? = nil
    ) {
        self.disks = disks
        self.networkAdapters = networkAdapters
        self.name = name
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.boot = boot
        self.integrationServices = integrationServices
        self.hyperV = hyperV
        self.hostProfile = hostProfile
        self.notes = notes
        self.automaticStartAction = automaticStartAction
        self.automaticStopAction = automaticStopAction
        self.recoveryAction = recoveryAction
    }
}

/// `PATCH /v1/vms/{vm}`: every field optional; only allowed while the VM is Off.
public struct UpdateVMRequest: Codable, Sendable, Equatable {
    public var name: String?
    public var memoryMiB: UInt64?
    public var cpus: Int?
    public var boot: BootRequest?
    public var integrationServices: IntegrationServices?
    public var hyperV: Bool?
    public var hostProfile: HostProfileSetting?
    /// Replaces the whole disk list (`[]` detaches every disk).
    public var disks: [DiskAttachment]?
    /// Replaces the whole adapter list (`[]` removes every adapter).
    public var networkAdapters: [NetworkAdapterConfiguration]?
    public var notes: String?
    public var automaticStartAction: AutomaticStartAction?
    public var automaticStopAction: AutomaticStopAction?
    public var recoveryAction: RecoveryAction?

    public init(
        name: String? = nil, memoryMiB: UInt64? = nil, cpus: Int? = nil, boot: BootRequest? = nil,
        integrationServices: IntegrationServices? = nil, hyperV: Bool? = nil, hostProfile: HostProfileSetting? = nil,
        disks: [DiskAttachment]? = nil, networkAdapters: [NetworkAdapterConfiguration]? = nil,
        notes: String? = nil, automaticStartAction: AutomaticStartAction? = nil,
        automaticStopAction: AutomaticStopAction? = nil, recoveryAction: RecoveryAction? = nil
    ) {
        self.disks = disks
        self.networkAdapters = networkAdapters
        self.name = name
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.boot = boot
        self.integrationServices = integrationServices
        self.hyperV = hyperV
        self.hostProfile = hostProfile
        self.notes = notes
        self.automaticStartAction = automaticStartAction
        self.automaticStopAction = automaticStopAction
        self.recoveryAction = recoveryAction
    }
}

/// `POST /v1/vms/{vm}/stop`: graceful shutdown through the shutdown integration service.
public struct StopVMRequest: Codable, Sendable, Equatable {
    /// How long to wait for the guest (default 60 s).
    public var timeoutSeconds: Int?
    /// Turn the VM off when the guest does not stop in time (or has no shutdown service).
    public var force: Bool?
    public init(timeoutSeconds: Int? = nil, force: Bool? = nil) {
        self.timeoutSeconds = timeoutSeconds
        self.force = force
    }
}

/// `POST /v1/host/stop-vms` (the body is optional): applies every Running or Paused VM's
/// automatic stop action, as the host shuts down.
public struct StopVMsRequest: Codable, Sendable, Equatable {
    /// How long a `ShutDown` guest gets before it is turned off (default 60 s, at most 3600).
    public var timeoutSeconds: Int?
    public init(timeoutSeconds: Int? = nil) { self.timeoutSeconds = timeoutSeconds }
}

/// What `POST /v1/host/stop-vms` did to one VM.
public struct VMStopOutcome: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    /// The VM's configured automatic stop action.
    public var automaticStopAction: AutomaticStopAction
    /// What was done in the end: the configured action, or `ShutDown` / `TurnOff` where it fell
    /// back (a VM that could not be saved, a guest that did not shut down in time).
    public var actionApplied: AutomaticStopAction
    /// The state the VM was left in: Saved or Off, unless the action failed.
    public var state: VMState
    /// What happened, and why where it fell back or failed.
    public var reason: String

    public init(
        id: String, name: String, automaticStopAction: AutomaticStopAction, actionApplied: AutomaticStopAction, state: VMState,
        reason: String
    ) {
        self.id = id
        self.name = name
        self.automaticStopAction = automaticStopAction
        self.actionApplied = actionApplied
        self.state = state
        self.reason = reason
    }
}

/// `POST /v1/host/stop-vms`'s answer, once every VM's action is done.
public struct StopVMsResponse: Codable, Sendable, Equatable {
    /// One per VM that was Running or Paused, by name.
    public var vms: [VMStopOutcome]
    public init(vms: [VMStopOutcome]) { self.vms = vms }
}

/// One entry of the event log (`GET /v1/events`, also streamed as server-sent events).
public struct VMEvent: Codable, Sendable, Equatable {
    public var id: Int64
    /// ISO 8601.
    public var time: String
    public var vmID: String?
    public var vmName: String?
    /// "created", "updated", "deleted", "state", "workerExited", "error", "service",
    /// "deviceAdded", "deviceRemoved", "hostStop".
    public var kind: String
    public var state: VMState?
    public var message: String

    public init(id: Int64, time: String, vmID: String?, vmName: String?, kind: String, state: VMState?, message: String) {
        self.id = id
        self.time = time
        self.vmID = vmID
        self.vmName = vmName
        self.kind = kind
        self.state = state
        self.message = message
    }
}

/// `GET /v1/host`.
public struct HostInfo: Codable, Sendable, Equatable {
    public var hostname: String
    public var serviceVersion: String
    public var apiVersion: Int
    public var kvmAvailable: Bool
    public var logicalProcessors: Int
    public var memoryMiB: UInt64
    public var stateDirectory: String
    public var vmCount: Int
    public var vmsByState: [String: Int]

    public init(
        hostname: String, serviceVersion: String, apiVersion: Int, kvmAvailable: Bool, logicalProcessors: Int, memoryMiB: UInt64,
        stateDirectory: String, vmCount: Int, vmsByState: [String: Int]
    ) {
        self.hostname = hostname
        self.serviceVersion = serviceVersion
        self.apiVersion = apiVersion
        self.kvmAvailable = kvmAvailable
        self.logicalProcessors = logicalProcessors
        self.memoryMiB = memoryMiB
        self.stateDirectory = stateDirectory
        self.vmCount = vmCount
        self.vmsByState = vmsByState
    }
}

/// Every error response's body: a stable code, a sentence, and what to do about it.
public struct APIErrorBody: Codable, Sendable, Equatable, Error {
    /// A stable machine-readable code: "invalid_request", "not_found", "conflict", "invalid_state", ...
    public var error: String
    public var message: String
    public var hint: String?

    public init(error: String, message: String, hint: String? = nil) {
        self.error = error
        self.message = message
        self.hint = hint
    }
}
