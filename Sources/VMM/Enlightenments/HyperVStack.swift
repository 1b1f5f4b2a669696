import Chipset
import Configuration
import GuestMemory
import HyperV
import KVM
import Logging
import SyntheticDevices
import VMBus

/// The Hyper-V side of one VM: SynIC, VMBus host, partition (MSRs, hypercalls) and the
/// integration services, wired to the machine's interrupts and vCPU threads.
///
/// Built in dependency order: SynIC first (the VMBus host posts through it), then the VMBus
/// host, then the partition (which forwards message hypercalls to the host).
public struct HyperVStack: Sendable {
    public let partition: HyperVPartition
    public let synic: SynIC
    public let vmbus: VMBusHost
    public let integrationServices: SyntheticDevices.IntegrationServices
    /// The synthetic SCSI controller; nil when the VM has no disks.
    public let storage: StorageController?
    /// The synthetic network adapters (hv_netvsc), in configuration order.
    public let networkAdapters: [NetworkAdapter]
    let logger: Logger

    /// The Microsoft CPUID leaves for a VM of `vpCount` VPs with this TSC frequency.
    static func configuration(vpCount: Int, tscFrequencyHz: UInt64) throws(VMBuildError) -> HyperVConfiguration {
        do {
            return try HyperVConfiguration(vpCount: vpCount, tscFrequencyHz: tscFrequencyHz)
        } catch {
            throw .step("configure the Hyper-V enlightenments", error)
        }
    }

    init(
        configuration: HyperVConfiguration, services: Configuration.IntegrationServices, memory: GuestMemory,
        machine: Machine, disks: AttachedDisks, storageInstanceID: GUID, networkAdapters adapterSetups: [NetworkAdapterSetup] = [],
        onGuestCrash: @escaping @Sendable (GuestCrashReport) -> Void, logger: Logger
    ) throws(VMBuildError) {
        let vpCount = configuration.vpCount
        let synic = SynIC(
            vpCount: vpCount, memory: memory, interruptSink: MSISynICInterruptSink(msi: machine.msi), logger: logger,
            kick: { vp in machine.kick(vcpu: Int(vp)) })
        let vmbus = VMBusHost(
            memory: memory, port: synic, configuration: VMBusHostConfiguration(vpCount: UInt32(vpCount)), logger: logger)
        let partition = HyperVPartition(
            configuration: configuration, memory: memory, synic: synic, messageHandler: vmbus,
            events: HyperVEventHandlers(
                guestCrashed: onGuestCrash,
                resetRequested: { machine.requestStop(.reset) }),
            logger: logger)
        do {
            integrationServices = try SyntheticDevices.IntegrationServices(
                configuration: IntegrationServicesConfiguration(
                    heartbeat: services.heartbeat, shutdown: services.shutdown, timeSync: services.timeSync,
                    keyValueExchange: services.keyValueExchange),
                clock: .system(referenceTime: { partition.referenceTime(vp: 0) }), host: vmbus)
        } catch {
            throw .step("offer the integration services", error)
        }
        if disks.disks.isEmpty {
            storage = nil
        } else {
            let controller = StorageController(instanceID: storageInstanceID, disks: disks.disks, logger: logger)
            do { try vmbus.addDevice(controller) } catch { throw .step("offer the SCSI controller", error) }
            storage = controller
        }
        var adapters: [NetworkAdapter] = []
        for (index, setup) in adapterSetups.enumerated() {
            let adapter = NetworkAdapter(
                macAddress: setup.macAddress.bytes, instanceID: setup.instanceID(index: index), backend: setup.backend,
                gpadlLookup: { [vmbus] handle in vmbus.gpadl(handle) }, logger: logger)
            do {
                try vmbus.addDevice(adapter)
            } catch {
                adapter.shutdown()
                throw .step("offer network adapter \(index) (\(setup.backend.name))", error)
            }
            adapters.append(adapter)
        }
        networkAdapters = adapters
        self.synic = synic
        self.logger = logger
        self.vmbus = vmbus
        self.partition = partition
    }

    /// How the vCPUs reach the partition: the MSR handler, the hypercall trap and SynIC delivery.
    func machineIO(portIO: PortIOBus, mmio: MMIOBus) -> MachineIO {
        let synic = self.synic
        return MachineIO(
            portIO: portIO, mmio: mmio, msrHandler: HyperVMSRHandler(partition: partition, logger: logger),
            portHooks: [IOPort(UInt16(HypercallPage.trapPort)): HypercallTrapHook(partition: partition, logger: logger)],
            beforeEntry: { vp in synic.deliverPending(vp: vp) })
    }
}
