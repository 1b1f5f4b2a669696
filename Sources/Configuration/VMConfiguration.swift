import Foundation

/// One VM's configuration: what `hvd` stores and what `hv-worker run --config` reads.
/// Versioned: `version` names the schema; newer fields are optional so older files still load.
public struct VMConfiguration: Codable, Sendable, Hashable {
    /// The schema version this build writes.
    public static let currentVersion = 1

    public var version: Int
    public var name: String
    /// Guest RAM in MiB.
    public var memoryMiB: UInt64
    public var cpus: Int
    public var boot: BootSource
    public var integrationServices: IntegrationServices
    /// Present the Hyper-V enlightenments (CPUID "Microsoft Hv", synthetic MSRs, hypercalls,
    /// SynIC) and the VMBus with the integration services. Off: a plain PC.
    public var hyperV: Bool
    /// Which host compatibility profile to apply (see docs/host-profiles.md).
    public var hostProfile: HostProfileSetting
    /// Disks on the synthetic SCSI controller, in LUN order of attachment.
    public var disks: [DiskAttachment]
    /// Synthetic network adapters, each on a host TAP interface.
    public var networkAdapters: [NetworkAdapterConfiguration]
    public var notes: String?

    public init(
        name: String, memoryMiB: UInt64 = 128, cpus: Int = 1, boot: BootSource,
        integrationServices: IntegrationServices = .init(), hyperV: Bool = true, hostProfile: HostProfileSetting = .automatic,
        disks: [DiskAttachment] = [], networkAdapters: [NetworkAdapterConfiguration] = [], notes: String? = nil
    ) {
        self.version = Self.currentVersion
        self.name = name
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.boot = boot
        self.integrationServices = integrationServices
        self.hyperV = hyperV
        self.hostProfile = hostProfile
        self.disks = disks
        self.networkAdapters = networkAdapters
        self.notes = notes
    }

    private enum CodingKeys: String, CodingKey {
        case version, name, memoryMiB, cpus, boot, integrationServices, hyperV, hostProfile, disks, networkAdapters, notes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? Self.currentVersion
        name = try c.decode(String.self, forKey: .name)
        memoryMiB = try c.decodeIfPresent(UInt64.self, forKey: .memoryMiB) ?? 128
        cpus = try c.decodeIfPresent(Int.self, forKey: .cpus) ?? 1
        boot = try c.decode(BootSource.self, forKey: .boot)
        integrationServices = try c.decodeIfPresent(IntegrationServices.self, forKey: .integrationServices) ?? .init()
        hyperV = try c.decodeIfPresent(Bool.self, forKey: .hyperV) ?? true
        hostProfile = try c.decodeIfPresent(HostProfileSetting.self, forKey: .hostProfile) ?? .automatic
        disks = try c.decodeIfPresent([DiskAttachment].self, forKey: .disks) ?? []
        networkAdapters = try c.decodeIfPresent([NetworkAdapterConfiguration].self, forKey: .networkAdapters) ?? []
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
    }
}

/// Direct Linux boot: the kernel, an optional initrd and the command line.
public struct BootSource: Codable, Sendable, Hashable {
    public var kernel: String
    public var initrd: String?
    public var cmdline: String
    public init(kernel: String, initrd: String? = nil, cmdline: String = "console=ttyS0") {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
    }
}

/// Which Hyper-V integration services the VM offers (each a VMBus channel).
public struct IntegrationServices: Codable, Sendable, Hashable {
    public var heartbeat: Bool
    public var shutdown: Bool
    public var timeSync: Bool
    public var keyValueExchange: Bool
    public init(heartbeat: Bool = true, shutdown: Bool = true, timeSync: Bool = true, keyValueExchange: Bool = true) {
        self.heartbeat = heartbeat
        self.shutdown = shutdown
        self.timeSync = timeSync
        self.keyValueExchange = keyValueExchange
    }
}

/// The host compatibility profile: `automatic` detects a host without hardware virtualization
/// (nested KVM-PVM) and adds what its instruction emulator needs; `off` adds nothing.
public enum HostProfileSetting: String, Codable, Sendable, Hashable, CaseIterable {
    case automatic
    case off
    case pvm
}
