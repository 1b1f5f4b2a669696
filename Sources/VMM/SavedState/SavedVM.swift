import Chipset
import Configuration
import Foundation
import KVM

/// What identifies the VM a saved state belongs to: a restore into anything else is refused.
public struct SavedStateFingerprint: Codable, Sendable, Hashable {
    public var memoryMiB: UInt64
    public var cpus: Int
    public var hyperV: Bool
    /// One line per device that carries state (disks, network adapters), in order.
    public var devices: [String]

    public init(memoryMiB: UInt64, cpus: Int, hyperV: Bool, devices: [String]) {
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.hyperV = hyperV
        self.devices = devices
    }

    /// The fingerprint of `configuration`.
    public init(_ configuration: VMConfiguration) {
        self.init(
            memoryMiB: configuration.memoryMiB, cpus: configuration.cpus, hyperV: configuration.hyperV,
            devices: configuration.disks.map { "disk \($0.path) lun \($0.lun.map(String.init) ?? "-")" }
                + configuration.networkAdapters.map { "nic \($0.tap) \($0.macAddress ?? "-")" })
    }

    /// What differs from `other`, one phrase per difference (empty when they match).
    public func differences(from other: SavedStateFingerprint) -> [String] {
        var out: [String] = []
        if memoryMiB != other.memoryMiB { out.append("memory \(memoryMiB) MiB, saved with \(other.memoryMiB) MiB") }
        if cpus != other.cpus { out.append("\(cpus) vCPUs, saved with \(other.cpus)") }
        if hyperV != other.hyperV { out.append("Hyper-V \(hyperV ? "on" : "off"), saved with it \(other.hyperV ? "on" : "off")") }
        if devices != other.devices { out.append("devices \(devices), saved with \(other.devices)") }
        return out
    }
}

/// vCPUs plus the in-kernel devices: the KVM part of a saved VM.
public struct MachineState: Codable, Sendable, Hashable {
    public var vcpus: [VCPUState]
    public var kernel: VMKernelState
    public init(vcpus: [VCPUState], kernel: VMKernelState) {
        self.vcpus = vcpus
        self.kernel = kernel
    }
}

/// Every section of a saved VM except RAM.
public struct SavedVM: Sendable, Hashable {
    public var fingerprint: SavedStateFingerprint
    public var machine: MachineState
    public var platform: PlatformDeviceState
    /// `HyperVStack.saveState()`'s bytes, opaque here; nil for a VM without Hyper-V.
    public var hyperV: [UInt8]?

    public init(fingerprint: SavedStateFingerprint, machine: MachineState, platform: PlatformDeviceState, hyperV: [UInt8]?) {
        self.fingerprint = fingerprint
        self.machine = machine
        self.platform = platform
        self.hyperV = hyperV
    }

    /// Encodes the typed sections into a container (RAM's section is added by the writer).
    func container() throws(SavedStateError) -> SavedStateContainer {
        var c = SavedStateContainer()
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            c.set(.configuration, Array(try encoder.encode(fingerprint)))
            c.set(.machine, Array(try encoder.encode(machine)))
            c.set(.chipset, Array(try encoder.encode(platform)))
        } catch {
            throw SavedStateError("cannot encode the saved state: \(error)")
        }
        if let hyperV { c.set(.hyperV, hyperV) }
        return c
    }

    /// Decodes the typed sections of `container`.
    init(_ container: SavedStateContainer) throws(SavedStateError) {
        func section<T: Decodable>(_ tag: SectionTag, _: T.Type) throws(SavedStateError) -> T {
            guard let bytes = container[tag] else { throw SavedStateError("the saved state has no '\(tag)' section") }
            do {
                return try JSONDecoder().decode(T.self, from: Data(bytes))
            } catch {
                throw SavedStateError("the saved state's '\(tag)' section is invalid: \(error)")
            }
        }
        fingerprint = try section(.configuration, SavedStateFingerprint.self)
        machine = try section(.machine, MachineState.self)
        platform = try section(.chipset, PlatformDeviceState.self)
        hyperV = container[.hyperV]
    }
}
