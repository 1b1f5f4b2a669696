import Boot
import Chipset
import Configuration
import GuestMemory
import KVM
import HyperV
import Logging
import SyntheticDevices
import VMBus

/// One VM built from a `VMConfiguration`, ready to run: guest RAM with the kernel, initrd and
/// ACPI tables loaded, the KVM machine, and the PC platform devices on its buses.
///
/// This is the worker's view of a VM (Hyper-V's VM worker process owns exactly one).
///
/// ## Concurrency model
/// `Sendable`: every part is. `run()` blocks the calling thread until the guest stops; the
/// console, signal handlers and (later) the control channel call `requestStop()`, `serial` and
/// the integration services from other threads.
public final class VMInstance: Sendable {
    public let configuration: VMConfiguration
    public let hostProfile: HostCompatibility
    /// The kernel command line the guest received (the configuration's plus the host profile's).
    public let commandLine: String
    public let memory: GuestMemory
    public let machine: Machine
    public let platform: PCPlatformDevices
    public let boot: LinuxBootResult
    /// The Hyper-V enlightenments, VMBus and integration services (nil with `hyperV` off).
    public let hyperV: HyperVStack?
    /// The disk images on the SCSI controller at start, opened and locked (`devices` has the
    /// ones attached now, after hot-plug).
    public let disks: AttachedDisks
    /// The disks and network adapters now, which change while the guest runs (hot-plug).
    public let devices: LiveDevices
    private let io: MachineIO
    let logger: Logger

    /// The guest's COM1, for console input (`receive`, `sendBreak`).
    public var serial: Serial16550 { platform.com1 }

    /// Builds the VM.
    /// - Parameters:
    ///   - configuration: the VM; validated here.
    ///   - console: where COM1's output goes.
    /// - Throws: `VMBuildError` naming the step that failed and what to do.
    public init(
        configuration: VMConfiguration, console: any SerialOutput, hostCPUInfoPath: String = "/proc/cpuinfo",
        restoring saved: SavedStateFile.Reader? = nil, logger: Logger = Logger(label: "swifthv.vm")
    ) throws(VMBuildError) {
        let problems = configuration.validationErrors()
        guard problems.isEmpty else { throw .invalidConfiguration(problems) }
        if let saved {
            let differences = SavedStateFingerprint(configuration).differences(from: saved.vm.fingerprint)
            guard differences.isEmpty else {
                throw .step(
                    "restore \(saved.path)",
                    SavedStateError(
                        "the saved state was made for a different configuration (\(differences.joined(separator: "; "))): start the VM with the configuration it was saved with, or discard the saved state"
                    ))
            }
        }
        self.configuration = configuration
        self.logger = logger
        if !configuration.disks.isEmpty && !configuration.hyperV {
            throw .step(
                "attach disks", AttachError("the SCSI controller is a VMBus device: disks need the Hyper-V enlightenments on"))
        }
        // Disks first: a missing or locked image fails the start before any memory is set up.
        disks = try AttachedDisks.open(configuration)

        let mode: HostCompatibility.Mode =
            switch configuration.hostProfile {
            case .automatic: .auto
            case .off: .off
            case .pvm: .pvm
            }
        hostProfile = HostCompatibility.resolve(mode, cpuinfoPath: hostCPUInfoPath)
        commandLine = ([configuration.boot.cmdline] + hostProfile.kernelCommandLineAdditions)
            .filter { !$0.isEmpty }.joined(separator: " ")

        let ramSize = configuration.memoryMiB << 20
        do {
            memory = try GuestMemory.anonymous(regions: BootLayout.ramRegions(ramSize: ramSize))
        } catch {
            throw .step("allocate \(configuration.memoryMiB) MiB of guest RAM", error)
        }

        let kvm: KVMSystem
        let supported: [CPUIDEntry]
        do {
            kvm = try KVMSystem.open()
            supported = try kvm.supportedCPUID()
        } catch {
            throw .kvmUnavailable(error)
        }

        let tables: ACPITables
        do {
            tables = try ACPITables.build(
                config: ACPIConfiguration(
                    vcpuCount: configuration.cpus, vmbus: configuration.hyperV ? ACPIConfiguration.VMBusDevice() : nil))
        } catch {
            throw .step("build the ACPI tables", error)
        }

        do {
            boot = try LinuxLoader.load(
                kernel: .path(configuration.boot.kernel),
                initrd: configuration.boot.initrd.map { .path($0) },
                cmdline: commandLine, into: memory, acpi: tables)
        } catch {
            throw .step("load the kernel", error)
        }

        var cpuid = hostProfile.guestCPUID(from: supported)
        var hyperVConfiguration: HyperVConfiguration?
        if configuration.hyperV {
            let hv = try HyperVStack.configuration(
                vpCount: configuration.cpus, tscFrequencyHz: Self.tscFrequencyHz(kvm))
            cpuid = HostCompatibility.merging(hv.cpuidLeaves.map(CPUIDEntry.init), into: cpuid)
            hyperVConfiguration = hv
        }
        var machineConfiguration = MachineConfiguration(
            memory: memory, vcpuCount: configuration.cpus, boot: boot.initialState, cpuid: cpuid)
        machineConfiguration.restore = saved?.vm.machine
        do {
            machine = try Machine(machineConfiguration, system: kvm, logger: logger)
        } catch {
            throw .step("create the KVM virtual machine", error)
        }

        let machine = self.machine
        platform = PCPlatformDevices(
            guestRAMSize: ramSize, interruptLine: { irq in machine.interruptLine(gsi: UInt32(irq)) },
            platform: machine, serialOutput: console)
        let portIO = PortIOBus(name: "pio", logger: logger)
        let mmio = MMIOBus(name: "mmio", logger: logger)
        do {
            try platform.attach(to: portIO)
        } catch {
            throw .step("attach the platform devices", error)
        }
        if let hyperVConfiguration {
            let adapters = try NetworkAdapterSetup.open(configuration)
            let stack = try HyperVStack(
                configuration: hyperVConfiguration, services: configuration.integrationServices, memory: memory,
                machine: machine, disks: disks, storageInstanceID: Self.storageInstanceID(vmName: configuration.name),
                networkAdapters: adapters,
                onGuestCrash: { report in
                    logger.error("the guest reported a crash: \(report)")
                    machine.stop(.error("the guest crashed: \(report)"))
                }, logger: logger)
            hyperV = stack
            io = stack.machineIO(portIO: portIO, mmio: mmio)
            devices = LiveDevices(
                vmbus: stack.vmbus, vmName: configuration.name,
                storageInstanceID: Self.storageInstanceID(vmName: configuration.name), storage: stack.storage,
                disks: disks, configuration: configuration, adapters: stack.networkAdapters, logger: logger)
        } else {
            guard configuration.networkAdapters.isEmpty else {
                throw .step("attach the network adapters", NetworkSetupError.needsHyperV)
            }
            hyperV = nil
            io = MachineIO(portIO: portIO, mmio: mmio)
            devices = LiveDevices(
                vmbus: nil, vmName: configuration.name, storageInstanceID: Self.storageInstanceID(vmName: configuration.name),
                storage: nil, disks: disks, configuration: configuration, adapters: [], logger: logger)
        }
        if let saved {
            let started = ContinuousClock.now
            do {
                try saved.loadRAM(into: memory)
                try platform.restoreState(saved.vm.platform)
                try restoreHyperVState(saved.vm.hyperV)
            } catch {
                throw .step("restore \(saved.path)", error)
            }
            logger.info("restored RAM and devices from \(saved.path) in \(ContinuousClock.now - started)")
        }
    }

    /// The guest TSC frequency for the Hyper-V frequency MSRs: KVM's value for a new VM.
    static func tscFrequencyHz(_ kvm: KVMSystem) throws(VMBuildError) -> UInt64 {
        let khz: UInt32
        do {
            khz = try kvm.createVM().tscKHz()
        } catch {
            throw .step("read the TSC frequency (KVM_GET_TSC_KHZ)", error)
        }
        guard khz > 0 else { throw .step("read the TSC frequency", KVMUnknownTSC()) }
        return UInt64(khz) * 1000
    }

    /// Runs the guest until it stops (power off, reset, host request or error). Blocks.
    /// Afterwards the disk images are flushed and closed.
    public func run() throws(VMBuildError) -> StopReason {
        defer {
            // The TAP reader threads stop with the guest (no frames into a stopped VM); the channel
            // queues finish the requests they hold, then the images close (those attached now,
            // hot-added ones included; hot-removed ones closed when they left).
            devices.close()
        }
        do {
            return try machine.run(io)
        } catch {
            throw .step("start the vCPUs", error)
        }
    }

    /// The SCSI controller's instance GUID: derived from the VM name (FNV-1a), so it is the
    /// same on every start and the guest's device paths do not move.
    static func storageInstanceID(vmName: String) -> GUID {
        var bytes: [UInt8] = []
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for round in 0..<2 {
            for byte in Array("scsi0:\(vmName)".utf8) + [UInt8(round)] { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            bytes += (0..<8).map { UInt8(truncatingIfNeeded: hash >> (8 * $0)) }
        }
        bytes[7] = (bytes[7] & 0x0F) | 0x40  // version 4 layout, as a random GUID would have
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return GUID(wireBytes: bytes)
    }

    /// Pauses the guest's vCPUs (Suspend-VM); `resume()` continues it.
    public func pause() { machine.pause() }

    /// Resumes a paused guest.
    public func resume() { machine.resume() }

    /// True while the guest is paused.
    public var isPaused: Bool { machine.isPaused }

    /// Stops the VM now (the guest is not asked; "turn off").
    public func requestStop() { machine.requestStop() }

    /// Asks the guest to shut down through the Hyper-V shutdown integration service.
    /// - Throws: `GracefulShutdownUnavailable` naming why (no Hyper-V, service off, or the
    ///   guest's driver has not negotiated it yet); the caller may then turn the VM off.
    public func requestGracefulShutdown() throws(GracefulShutdownUnavailable) {
        guard let hyperV else { throw GracefulShutdownUnavailable(reason: "this VM runs without Hyper-V enlightenments") }
        guard let shutdown = hyperV.integrationServices.shutdown else {
            throw GracefulShutdownUnavailable(reason: "the shutdown integration service is disabled for this VM")
        }
        do {
            try shutdown.requestShutdown(.powerOff)
        } catch {
            throw GracefulShutdownUnavailable(reason: "the guest's shutdown service is not ready (\(error))")
        }
    }
}
