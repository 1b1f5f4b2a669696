import Configuration
import Foundation
import VirtualDisk

/// Disks and network adapters: `GET/POST /v1/vms/{vm}/disks`, `…/disks/{lun}`,
/// `…/network-adapters`, `…/network-adapters/{index or mac}` (Add-VMHardDiskDrive,
/// Get-VMNetworkAdapter, virsh attach-disk/domblklist/domiflist).
///
/// Changes are allowed while the VM is Off (stored; the worker reads them when it starts) and
/// while it is Running (hot-add and hot-remove: the worker changes the live VM first, and only
/// when it accepted is the change stored, so the next start has it too). A Paused VM must be
/// resumed first (its guest could not answer). Every change goes through
/// `checkedConfiguration`, the same path create and update take, under the VM's operation lock
/// and then `configurationLock`.
extension VMService {
    // MARK: Disks

    /// The VM's disks in LUN order, with their effective LUN, format and size.
    public func disks(_ idOrName: String) throws(ServiceError) -> [VMDiskInfo] {
        let c = try record(idOrName).configuration
        return zip(c.disks, c.assignedLUNs()).compactMap { disk, lun in lun.map { DeviceValidation.info(disk, lun: $0) } }
            .sorted { $0.lun < $1.lun }
    }

    /// The disk at `lun`.
    /// - Throws: `.invalidRequest` for a LUN that is not a number, `.notFound` for an empty one.
    public func disk(_ idOrName: String, lun text: String) throws(ServiceError) -> VMDiskInfo {
        let lun = try Self.lun(text)
        let vm = try record(idOrName)
        guard let disk = try disks(vm.id).first(where: { $0.lun == lun }) else {
            throw .notFound("\(vm.name) has no disk at LUN \(lun)", hint: "hv vm disk list \(vm.name) shows its disks")
        }
        return disk
    }

    /// Attaches a disk (Add-VMHardDiskDrive): the lowest free LUN unless one is named.
    public func addDisk(_ idOrName: String, _ disk: DiskAttachment) throws(ServiceError) -> VMDiskInfo {
        try changeDevices(idOrName, "attach a disk to") { vm throws(ServiceError) -> VMConfiguration in
            var c = vm.configuration
            let path = DeviceValidation.resolved(disk.path)
            if disk.path.hasPrefix("/"), let (index, existing) = c.disks.enumerated().first(where: { DeviceValidation.resolved($0.element.path) == path }) {
                throw .conflict(
                    "\(disk.path) is already attached to \(vm.name) at LUN \(c.assignedLUNs()[index].map { "\($0)" } ?? "?")"
                        + (existing.path == disk.path ? "" : " (as \(existing.path))"),
                    hint: "attach each image once")
            }
            if let lun = disk.lun, let index = c.assignedLUNs().firstIndex(of: lun) {
                throw .conflict("LUN \(lun) of \(vm.name) is taken by \(c.disks[index].path)", hint: "leave the LUN out to take the lowest free one")
            }
            c.disks.append(disk)
            return c
        } live: { _, new in
            new.disks.last.map { ControlMessage(.addDisk, disk: $0) }
        } answer: { vm throws(ServiceError) -> VMDiskInfo in
            guard let lun = vm.configuration.disks.last?.lun else { throw .workerFailed("the new disk has no LUN") }
            return try self.disk(vm.id, lun: "\(lun)")
        }
    }

    /// Detaches the disk at `lun` (Remove-VMHardDiskDrive); the image file is left alone.
    public func removeDisk(_ idOrName: String, lun text: String) throws(ServiceError) {
        let lun = try Self.lun(text)
        _ = try changeDevices(idOrName, "detach a disk from") { vm throws(ServiceError) -> VMConfiguration in
            var c = vm.configuration
            guard let index = c.assignedLUNs().firstIndex(of: lun) else { throw .notFound("\(vm.name) has no disk at LUN \(lun)", hint: "hv vm disk list \(vm.name) shows its disks") }
            c.disks.remove(at: index)
            return c
        } live: { _, _ in
            ControlMessage(.removeDisk, lun: lun)
        } answer: { _ in () }
    }

    private static func lun(_ text: String) throws(ServiceError) -> UInt8 {
        guard let lun = UInt8(text), lun <= DiskAttachment.maximumLUN else {
            throw .invalidRequest("\"\(text)\" is not a LUN (0...\(DiskAttachment.maximumLUN))")
        }
        return lun
    }

    // MARK: Network adapters

    /// The VM's network adapters in order, with their effective MAC.
    public func networkAdapters(_ idOrName: String) throws(ServiceError) -> [VMNetworkAdapterInfo] {
        let vm = try record(idOrName)
        return vm.configuration.networkAdapters.enumerated().map { index, adapter in
            let mac = adapter.effectiveMACAddress(vmName: vm.configuration.name, index: index)
            return VMNetworkAdapterInfo(index: index, tap: adapter.tap, macAddress: mac?.description ?? adapter.macAddress ?? "")
        }
    }

    /// One adapter, by index or by MAC address.
    public func networkAdapter(_ idOrName: String, _ key: String) throws(ServiceError) -> VMNetworkAdapterInfo {
        let vm = try record(idOrName)
        let index = try Self.adapterIndex(key, in: try networkAdapters(vm.id), vm: vm.name)
        return try networkAdapters(vm.id)[index]
    }

    /// Adds an adapter (Add-VMNetworkAdapter) at the end of the list.
    public func addNetworkAdapter(_ idOrName: String, _ adapter: NetworkAdapterConfiguration) throws(ServiceError) -> VMNetworkAdapterInfo {
        try changeDevices(idOrName, "add a network adapter to") { vm throws(ServiceError) -> VMConfiguration in
            var c = vm.configuration
            if let index = c.networkAdapters.firstIndex(where: { $0.tap == adapter.tap }) {
                throw .conflict("TAP \(adapter.tap) is already used by \(vm.name)'s adapter \(index)", hint: "give each adapter its own TAP")
            }
            if let text = adapter.macAddress, let mac = MACAddress(text),
                let index = try networkAdapters(vm.id).firstIndex(where: { MACAddress($0.macAddress) == mac })
            {
                throw .conflict("\(mac) is already the address of \(vm.name)'s adapter \(index)", hint: "choose another address")
            }
            c.networkAdapters.append(adapter)
            return c
        } live: { _, new in
            new.networkAdapters.last.map { ControlMessage(.addNetworkAdapter, networkAdapter: $0) }
        } answer: { vm throws(ServiceError) -> VMNetworkAdapterInfo in
            guard let last = try networkAdapters(vm.id).last else { throw .workerFailed("the new adapter is missing") }
            return last
        }
    }

    /// Removes an adapter, named by index or MAC address. Later adapters keep their MACs (they
    /// are stored when added) but move up one index.
    public func removeNetworkAdapter(_ idOrName: String, _ key: String) throws(ServiceError) {
        let vm = try record(idOrName)
        let adapters = try networkAdapters(vm.id)
        let mac = adapters[try Self.adapterIndex(key, in: adapters, vm: vm.name)].macAddress
        _ = try changeDevices(idOrName, "remove a network adapter from") { vm throws(ServiceError) -> VMConfiguration in
            var c = vm.configuration
            let current = try networkAdapters(vm.id)
            guard let index = current.firstIndex(where: { $0.macAddress == mac }) else {
                throw .notFound("\(vm.name) has no network adapter with address \(mac)", hint: "hv vm nic list \(vm.name) shows its adapters")
            }
            c.networkAdapters.remove(at: index)
            return c
        } live: { _, _ in
            ControlMessage(.removeNetworkAdapter, macAddress: mac)
        } answer: { _ in () }
    }

    private static func adapterIndex(_ key: String, in adapters: [VMNetworkAdapterInfo], vm: String) throws(ServiceError) -> Int {
        if let mac = MACAddress(key) {
            guard let index = adapters.firstIndex(where: { MACAddress($0.macAddress) == mac }) else {
                throw .notFound("\(vm) has no network adapter with address \(mac)", hint: "hv vm nic list \(vm) shows its adapters")
            }
            return index
        }
        guard let index = Int(key), index >= 0 else {
            throw .invalidRequest("\"\(key)\" is neither an adapter index (0, 1, ...) nor a MAC address like 00:15:5d:01:02:03")
        }
        guard adapters.indices.contains(index) else { throw .notFound("\(vm) has no network adapter \(index) (it has \(adapters.count))", hint: "hv vm nic list \(vm) shows its adapters") }
        return index
    }

    // MARK: The one change path

    /// Runs a device change on an Off or Running VM: `change` builds the new configuration from
    /// the current record, which is then checked; for a Running VM `live` builds the worker
    /// request from the old and the checked (pinned) configuration, and the change is stored
    /// only when the worker accepted it. The result is stored with its events, and `answer`
    /// reads back.
    private func changeDevices<T>(
        _ idOrName: String, _ what: String, _ change: (VMRecord) throws(ServiceError) -> VMConfiguration,
        live: (VMConfiguration, VMConfiguration) -> ControlMessage?,
        answer: (VMRecord) throws(ServiceError) -> T
    ) throws(ServiceError) -> T {
        let id = try record(idOrName).id
        return try serialized(id) { () throws(ServiceError) -> T in
            var vm = try record(id)
            switch vm.state {
            case .off, .running: break
            case .saved:
                throw .invalidState(
                    "cannot \(what) \(vm.name): it is Saved, and a saved state belongs to the devices it was saved with",
                    hint: "start the VM (hv vm start \(vm.name)) and stop it, or discard its saved state (hv vm discard \(vm.name)), then change its devices")
            case .paused:
                throw .invalidState(
                    "cannot \(what) \(vm.name): it is Paused, and a paused guest cannot take a device change",
                    hint: "resume it first (hv vm resume \(vm.name))")
            default:
                throw .invalidState(
                    "cannot \(what) \(vm.name): it is \(vm.state)",
                    hint: "change devices while the VM is Off or Running")
            }
            let old = vm.configuration
            let new = try change(vm)
            try configurationLock.withLock { _ throws(ServiceError) in
                let (pinned, images) = try checkedConfiguration(new, vmID: id)
                var checked = pinned
                if vm.state == .running {
                    // Pinned (LUN, MAC) before the worker sees it, so both agree.
                    guard let request = live(old, checked) else { throw .workerFailed("no device change to send") }
                    let reply = try self.liveChange(request, vm: vm, what: what)
                    if let disk = reply.disk, request.kind == .addDisk, let index = checked.disks.indices.last {
                        checked.disks[index] = disk
                    }
                }
                vm.configuration = checked
                let updated = vm
                let notes = Self.deviceEvents(old: old, new: checked, images: images)
                for event in try db({ try inventory.update(updated, events: notes.isEmpty ? [("updated", "devices unchanged")] : notes) }) {
                    publish(event)
                }
            }
            return try answer(try record(id))
        }
    }

    /// Sends a hot-plug request to the VM's worker and returns its `ok` reply.
    /// - Throws: `.notSupported` (501) from a worker that predates hot-plug, `.invalidState` when
    ///   the worker refuses because of the VM's state, `.workerFailed` for its other refusals.
    private func liveChange(_ request: ControlMessage, vm: VMRecord, what: String) throws(ServiceError) -> ControlMessage {
        let handle = try worker(vm)
        let reply: ControlMessage
        do {
            // A removal waits up to 60 s for the guest to close and release the channel.
            reply = try handle.request(request, timeoutSeconds: 90)
        } catch {
            throw .workerFailed("cannot \(what) running VM \(vm.name): the worker (pid \(handle.pid)) did not answer: \(error)")
        }
        if reply.isUnknownRequest {
            throw .notSupported(
                "cannot \(what) running VM \(vm.name): its worker (pid \(handle.pid)) predates hot-add and hot-remove",
                hint: "stop the VM, change its devices, then start it (it then runs the current hv-worker)")
        }
        guard reply.kind == .ok else {
            let why = reply.error ?? "the worker refused"
            if why.contains("paused") || why.contains("stopping") { throw .invalidState("cannot \(what) \(vm.name): \(why)") }
            throw .conflict("cannot \(what) running VM \(vm.name): \(why)")
        }
        return reply
    }

    /// Checks a configuration the way every change needs (its own rules, then the images on the
    /// host, then the other VMs) and pins its LUNs and MACs. Call with `configurationLock` held.
    /// - Parameter vmID: the VM being changed (nil while creating it), left out of the conflict check.
    /// - Returns: the pinned configuration and what each disk's image is, by index.
    func checkedConfiguration(_ configuration: VMConfiguration, vmID: String?) throws(ServiceError) -> (VMConfiguration, [DeviceValidation.ImageFacts]) {
        let pinned = DeviceValidation.pinned(configuration)
        try DeviceValidation.checkDuplicateImages(pinned)
        try RequestValidation.validate(pinned, allowedDirectories: allowedDirectories)
        var images: [DeviceValidation.ImageFacts] = []
        for (index, disk) in pinned.disks.enumerated() {
            images.append(try DeviceValidation.inspect(disk, field: "disks[\(index)]", allowed: allowedDirectories))
        }
        let others = try db { try inventory.allVMs() }.filter { $0.id != vmID }
        try DeviceValidation.checkConflicts(pinned, others: others)
        return (pinned, images)
    }

    /// One event per device added or removed between two configurations (both pinned).
    static func deviceEvents(old: VMConfiguration?, new: VMConfiguration, images: [DeviceValidation.ImageFacts]) -> [Inventory.EventNote] {
        var notes: [Inventory.EventNote] = []
        let oldDisks = old?.disks ?? []
        for disk in oldDisks where !new.disks.contains(disk) {
            notes.append(("deviceRemoved", "detached disk LUN \(disk.lun.map { "\($0)" } ?? "?"): \(disk.path)"))
        }
        for (index, disk) in new.disks.enumerated() where !oldDisks.contains(disk) {
            let facts = images.indices.contains(index) ? images[index] : nil
            let what = [facts?.format.rawValue, facts.map { Self.size($0.virtualSize) }, disk.readOnly ? "read-only" : nil].compactMap { $0 }
            notes.append(("deviceAdded", "attached disk LUN \(disk.lun.map { "\($0)" } ?? "?"): \(disk.path) (\(what.joined(separator: ", ")))"))
        }
        let oldAdapters = old?.networkAdapters ?? []
        for adapter in oldAdapters where !new.networkAdapters.contains(adapter) {
            notes.append(("deviceRemoved", "removed network adapter \(adapter.macAddress ?? "?") on TAP \(adapter.tap)"))
        }
        for (index, adapter) in new.networkAdapters.enumerated() where !oldAdapters.contains(adapter) {
            notes.append(("deviceAdded", "added network adapter \(index): \(adapter.macAddress ?? "?") on TAP \(adapter.tap)"))
        }
        return notes
    }

    /// "512 B", "64 MiB", "1.5 GiB".
    static func size(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : (value == value.rounded() ? "\(Int(value)) \(units[unit])" : String(format: "%.1f %@", value, units[unit]))
    }
}
