import Configuration
import Dispatch
import Logging
import Synchronization
import SyntheticDevices
import VMBus

/// The devices a running VM can gain and lose (Add-/Remove-VMHardDiskDrive,
/// Add-/Remove-VMNetworkAdapter on a running VM; `virsh attach-disk --live`): the disks on the
/// synthetic SCSI controller and the synthetic network adapters.
///
/// - A disk is added to the controller's LUN table and the guest told to rescan
///   (ENUMERATE_BUS); a VM started without disks gets its controller offered on the first add.
/// - A removed disk leaves the table first (later requests to it fail with
///   SRB_STATUS_INVALID_LUN, which Linux takes as "device gone"), then the controller's queue
///   drains and only then is the image closed and unlocked.
/// - A network adapter is a channel of its own: added = TAP opened, then offered; removed =
///   rescinded, then its TAP stopped once the guest closed and released the channel (or the wait
///   ran out and the host closed it).
///
/// ## Concurrency model
/// Called from the worker's control threads. One change runs at a time (`changeLock`, a
/// semaphore because a removal blocks while it waits for the guest); the device tables are in a
/// `Mutex` so status reports read them at any time.
public final class LiveDevices: Sendable {
    struct AttachedImage: Sendable {
        let disk: SCSIDisk
        let lock: ImageLock
        let attachment: DiskAttachment
    }

    struct Adapter: Sendable {
        let adapter: NetworkAdapter
        let mac: MACAddress
        let tap: String
    }

    struct State: Sendable {
        var storage: StorageController?
        var images: [UInt8: AttachedImage] = [:]
        var adapters: [Adapter] = []
        /// Adapters offered so far, for unique instance GUIDs.
        var adaptersOffered = 0
        var closed = false
        /// A device was added or removed since the VM started.
        var changed = false
    }

    private let vmbus: VMBusHost?
    private let vmName: String
    private let storageInstanceID: GUID
    private let logger: Logger
    private let state: Mutex<State>
    private let changeLock = DispatchSemaphore(value: 1)

    init(
        vmbus: VMBusHost?, vmName: String, storageInstanceID: GUID, storage: StorageController?,
        disks: AttachedDisks, configuration: VMConfiguration, adapters: [NetworkAdapter], logger: Logger
    ) {
        self.vmbus = vmbus
        self.vmName = vmName
        self.storageInstanceID = storageInstanceID
        self.logger = logger
        var initial = State(storage: storage)
        for (attachment, lun) in zip(configuration.disks, configuration.assignedLUNs()) {
            guard let lun, let disk = disks.disks[lun], let lock = disks.locks[lun] else { continue }
            initial.images[lun] = AttachedImage(disk: disk, lock: lock, attachment: attachment)
        }
        for (index, adapter) in adapters.enumerated() {
            let tap = configuration.networkAdapters.indices.contains(index) ? configuration.networkAdapters[index].tap : ""
            let mac = MACAddress(bytes: adapter.macAddress) ?? MACAddress.derived(vmName: vmName, adapterIndex: index)
            initial.adapters.append(Adapter(adapter: adapter, mac: mac, tap: tap))
        }
        initial.adaptersOffered = adapters.count
        state = Mutex(initial)
    }

    /// The SCSI controller, once there is one.
    public var storage: StorageController? { state.withLock { $0.storage } }

    /// True once a disk or adapter was added or removed while the VM ran (Save-VM refuses then:
    /// the saved state describes the devices the VM started with).
    public var changedSinceStart: Bool { state.withLock { $0.changed } }

    /// The network adapters now, in the order they were added.
    public var networkAdapters: [NetworkAdapter] { state.withLock { $0.adapters.map(\.adapter) } }

    /// LUN → attachment of the disks attached now.
    public var diskAttachments: [UInt8: DiskAttachment] { state.withLock { $0.images.mapValues(\.attachment) } }

    // MARK: Disks

    /// Attaches a disk to the running VM.
    /// - Parameter attachment: the image; its `lun`, if set, must be free, else the lowest free
    ///   LUN is taken.
    /// - Returns: the LUN the disk got.
    /// - Throws: `HotplugError` saying why (no Hyper-V, LUN taken, image missing or locked).
    @discardableResult
    public func addDisk(_ attachment: DiskAttachment) throws(HotplugError) -> UInt8 {
        changeLock.wait()
        defer { changeLock.signal() }
        guard let vmbus else { throw HotplugError("the SCSI controller is a VMBus device: this VM runs without Hyper-V enlightenments") }
        let (taken, closed, existing) = state.withLock { ($0.images, $0.closed, $0.storage) }
        guard !closed else { throw HotplugError("the VM is stopping") }
        if let path = taken.values.first(where: { $0.attachment.path == attachment.path })?.attachment.path {
            throw HotplugError("\(path) is already attached")
        }
        let lun: UInt8
        if let wanted = attachment.lun {
            guard wanted <= DiskAttachment.maximumLUN else { throw HotplugError("LUN \(wanted) is out of range (0...\(DiskAttachment.maximumLUN))") }
            guard taken[wanted] == nil else { throw HotplugError("LUN \(wanted) holds \(taken[wanted]?.attachment.path ?? "a disk")") }
            lun = wanted
        } else {
            guard let free = (0...DiskAttachment.maximumLUN).first(where: { taken[$0] == nil }) else {
                throw HotplugError("no free LUN is left on the SCSI controller")
            }
            lun = free
        }
        var pinned = attachment
        pinned.lun = lun
        let (disk, lock): (SCSIDisk, ImageLock)
        do { (disk, lock) = try AttachedDisks.openImage(pinned, lun: lun) } catch { throw HotplugError("\(error)") }
        let image = AttachedImage(disk: disk, lock: lock, attachment: pinned)
        if let existing {
            do { try existing.attach(disk, lun: lun) } catch {
                Self.close(image)
                throw HotplugError("\(error)")
            }
        } else {
            // Started without disks: the controller appears now, already holding the disk, and
            // the guest's storvsc probes it as on a boot with disks.
            let controller = StorageController(instanceID: storageInstanceID, disks: [lun: disk], logger: logger)
            do { try vmbus.addDevice(controller) } catch {
                Self.close(image)
                throw HotplugError("cannot offer the SCSI controller: \(error)")
            }
            state.withLock { $0.storage = controller }
        }
        state.withLock {
            $0.images[lun] = image
            $0.changed = true
        }
        logger.info("hot-add: disk \(attachment.path) at LUN \(lun)")
        return lun
    }

    /// Detaches the disk at `lun` from the running VM. Returns once no request to it is
    /// running any more and its image is closed and unlocked; the guest learns of it through
    /// ENUMERATE_BUS (the file itself is left alone).
    /// - Throws: `HotplugError` if no disk is at `lun`.
    public func removeDisk(lun: UInt8) throws(HotplugError) {
        changeLock.wait()
        defer { changeLock.signal() }
        let (image, storage) = state.withLock { ($0.images[lun], $0.storage) }
        guard let image, let storage else { throw HotplugError("no disk is attached at LUN \(lun)") }
        storage.detach(lun: lun)
        // The request the channel queue may be running on the disk finishes first.
        if let vmbus, let relID = vmbus.relID(of: storage) { vmbus.waitForIdle(relID: relID) }
        state.withLock {
            _ = $0.images.removeValue(forKey: lun)
            $0.changed = true
        }
        Self.close(image)
        logger.info("hot-remove: disk \(image.attachment.path) at LUN \(lun)")
    }

    // MARK: Network adapters

    /// Adds a network adapter to the running VM: opens its TAP, then offers the channel.
    /// - Parameter configuration: TAP and MAC (a missing MAC is derived from the VM name and
    ///   the adapter's position).
    /// - Returns: the adapter's MAC address.
    /// - Throws: `HotplugError` (no Hyper-V, MAC or TAP in use, TAP cannot be opened).
    @discardableResult
    public func addNetworkAdapter(_ configuration: NetworkAdapterConfiguration) throws(HotplugError) -> MACAddress {
        changeLock.wait()
        defer { changeLock.signal() }
        guard let vmbus else { throw HotplugError("network adapters are VMBus devices: this VM runs without Hyper-V enlightenments") }
        let (adapters, offered, closed) = state.withLock { ($0.adapters, $0.adaptersOffered, $0.closed) }
        guard !closed else { throw HotplugError("the VM is stopping") }
        guard let mac = configuration.effectiveMACAddress(vmName: vmName, index: adapters.count) else {
            throw HotplugError("invalid MAC address \"\(configuration.macAddress ?? "")\"")
        }
        if adapters.contains(where: { $0.mac == mac }) { throw HotplugError("\(mac) is already the address of an adapter of this VM") }
        if adapters.contains(where: { $0.tap == configuration.tap }) { throw HotplugError("TAP \(configuration.tap) is already used by an adapter of this VM") }
        let backend: TAPBackend
        do { backend = try TAPBackend(name: configuration.tap) } catch {
            throw HotplugError("cannot open TAP interface \(configuration.tap): \(NetworkSetupError.tapUnavailable(configuration.tap, "\(error)"))")
        }
        let setup = NetworkAdapterSetup(macAddress: mac, backend: backend)
        let adapter = NetworkAdapter(
            macAddress: mac.bytes, instanceID: setup.instanceID(index: offered), backend: backend,
            gpadlLookup: { [vmbus] handle in vmbus.gpadl(handle) }, logger: logger)
        do { try vmbus.addDevice(adapter) } catch {
            adapter.shutdown()
            throw HotplugError("cannot offer the network adapter: \(error)")
        }
        state.withLock { state in
            state.adapters.append(Adapter(adapter: adapter, mac: mac, tap: configuration.tap))
            state.adaptersOffered += 1
            state.changed = true
        }
        logger.info("hot-add: network adapter \(mac) on TAP \(configuration.tap)")
        return mac
    }

    /// Removes the network adapter with `mac`: rescinds its channel (the adapter keeps serving
    /// the guest's remove path), waits (up to `releaseTimeoutSeconds`) for the guest to close and
    /// release it, else closes it on the host side, then stops its TAP backend.
    /// - Returns: whether the guest released the channel in time (either way the adapter is
    ///   gone for the host and its TAP backend stopped).
    /// - Throws: `HotplugError` if no adapter has that address.
    @discardableResult
    public func removeNetworkAdapter(mac: MACAddress, releaseTimeoutSeconds: Double = 60) throws(HotplugError) -> Bool {
        changeLock.wait()
        defer { changeLock.signal() }
        guard let vmbus, let entry = state.withLock({ $0.adapters.first { $0.mac == mac } }) else {
            throw HotplugError("no network adapter has address \(mac)")
        }
        let released = DispatchSemaphore(value: 0)
        let relID = vmbus.relID(of: entry.adapter)
        if let relID {
            do { try vmbus.rescind(relID: relID, onReleased: { released.signal() }) } catch {
                throw HotplugError("cannot rescind the adapter's channel: \(error)")
            }
        } else {
            released.signal()
        }
        let inTime = released.wait(timeout: .now() + releaseTimeoutSeconds) == .success
        if inTime {
            logger.info("hot-remove: the guest released adapter \(mac)'s channel")
        } else {
            // The adapter kept serving the guest's remove path until now; cut it off.
            if let relID { vmbus.closeRescinded(relID: relID) }
            logger.warning("hot-remove: the guest did not release adapter \(mac) within \(releaseTimeoutSeconds) s; removed on the host side")
        }
        entry.adapter.shutdown()
        state.withLock {
            $0.adapters.removeAll { $0.mac == mac }
            $0.changed = true
        }
        logger.info("hot-remove: network adapter \(mac) on TAP \(entry.tap)")
        return inTime
    }

    // MARK: Shutdown

    /// After the guest stopped: stops every adapter's backend, lets the channel queues finish
    /// what they hold, then flushes, closes and unlocks every image. Later changes are refused.
    func close() {
        changeLock.wait()
        defer { changeLock.signal() }
        let current = state.withLock { state -> State in
            defer {
                state.closed = true
                state.images = [:]
            }
            return state
        }
        guard !current.closed else { return }
        current.adapters.forEach { $0.adapter.shutdown() }
        vmbus?.waitForIdle()
        for image in current.images.values { Self.close(image) }
    }

    private static func close(_ image: AttachedImage) {
        try? image.disk.disk.close()
        image.lock.release()
    }
}

/// Why a device could not be added to or removed from a running VM, as text for the caller.
public struct HotplugError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
