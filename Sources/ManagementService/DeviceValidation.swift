import Configuration
import Foundation
import VirtualDisk

/// The checks a VM's disks and network adapters pass before `hvd` stores them, beyond what
/// `VMConfiguration.validationErrors()` checks on its own: the image on the host (allowed
/// directory, regular file, format), and conflicts with the other VMs (Hyper-V refuses an image
/// attached to two VMs; two VMs on one TAP or one MAC would steal each other's frames).
enum DeviceValidation {
    /// What an image file is, read at attach time.
    struct ImageFacts: Equatable {
        var format: DiskFormat
        var virtualSize: UInt64
    }

    /// Fills in what the worker would derive, so it never changes later: each disk's LUN (the
    /// lowest free one, as Add-VMHardDiskDrive picks) and each adapter's MAC (Hyper-V keeps a
    /// dynamic MAC once assigned). Removing a device then leaves the others where they were.
    static func pinned(_ configuration: VMConfiguration) -> VMConfiguration {
        var c = configuration
        for (index, lun) in c.assignedLUNs().enumerated() where c.disks[index].lun == nil {
            c.disks[index].lun = lun
        }
        for index in c.networkAdapters.indices where c.networkAdapters[index].macAddress == nil {
            c.networkAdapters[index].macAddress = MACAddress.derived(vmName: c.name, adapterIndex: index).description
        }
        return c
    }

    /// The path with symlinks and `..` resolved: two spellings of one file compare equal.
    static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Checks one disk's image: inside the allowed directories, a regular file hvd can read (and
    /// write, unless read-only), and a raw image or a sound VHDX.
    /// - Throws: `ServiceError.invalidRequest` naming the field and what to do.
    static func inspect(_ disk: DiskAttachment, field: String, allowed: [String]) throws(ServiceError) -> ImageFacts {
        try RequestValidation.checkPath(disk.path, field: "\(field).path", allowed: allowed)
        let path = resolved(disk.path)
        if !disk.readOnly && !FileManager.default.isWritableFile(atPath: path) {
            throw .invalidRequest(
                "\(field).path: \(disk.path) is not writable by hvd",
                hint: "attach it read-only (readOnly: true, hv: PATH,ro) or give hvd's user write access")
        }
        let image: any VirtualDisk
        let facts: ImageFacts
        do {
            let format = try DiskFormat.detect(path: path)
            image = try VirtualDisks.open(path: path, readOnly: true)
            facts = ImageFacts(format: format, virtualSize: image.virtualSize)
        } catch {
            throw .invalidRequest(
                "\(field).path: \(disk.path) is not a usable raw or VHDX image: \(error)",
                hint: "hv disk check \(disk.path) says more (hv disk check --repair fixes what it can)")
        }
        defer { try? image.close() }
        // A differencing disk exposes its parents to the guest: they must be allowed too.
        var cursor = (image as? VHDXDisk)?.parent as? VHDXDisk
        while let parent = cursor {
            try RequestValidation.checkPath(parent.path ?? "", field: "\(field).path (parent of \(disk.path))", allowed: allowed)
            cursor = parent.parent as? VHDXDisk
        }
        return facts
    }

    /// What the API shows for a stored disk; format and size are read now, "unknown" when the
    /// image cannot be read (moved away since it was attached).
    static func info(_ disk: DiskAttachment, lun: UInt8) -> VMDiskInfo {
        let path = resolved(disk.path)
        var format = "unknown"
        var size: UInt64?
        if let detected = try? DiskFormat.detect(path: path), let image = try? VirtualDisks.open(path: path, readOnly: true) {
            format = detected.rawValue
            size = image.virtualSize
            try? image.close()
        }
        return VMDiskInfo(lun: lun, path: disk.path, readOnly: disk.readOnly, format: format, virtualSizeBytes: size)
    }

    /// Refuses an image, TAP or MAC that another VM uses. An image may be shared when every VM
    /// that has it attaches it read-only.
    /// - Parameters:
    ///   - configuration: the VM's new configuration, pinned.
    ///   - others: every other VM in the inventory.
    /// - Throws: `ServiceError.conflict` naming the other VM.
    static func checkConflicts(_ configuration: VMConfiguration, others: [VMRecord]) throws(ServiceError) {
        for (index, disk) in configuration.disks.enumerated() {
            let path = resolved(disk.path)
            for other in others {
                for theirs in other.configuration.disks where resolved(theirs.path) == path && !(disk.readOnly && theirs.readOnly) {
                    throw .conflict(
                        "disks[\(index)].path: \(disk.path) is attached to VM \(other.name)\(theirs.readOnly ? " (read-only)" : "")",
                        hint: "an image may be attached to one VM, or read-only to several: detach it from \(other.name) "
                            + "(hv vm disk remove \(other.name) \(theirs.lun.map { "\($0)" } ?? "LUN")) or attach a copy")
                }
            }
        }
        for (index, adapter) in configuration.networkAdapters.enumerated() {
            let mac = adapter.effectiveMACAddress(vmName: configuration.name, index: index)
            for other in others {
                for (theirIndex, theirs) in other.configuration.networkAdapters.enumerated() {
                    if theirs.tap == adapter.tap {
                        throw .conflict(
                            "networkAdapters[\(index)].tap: TAP \(adapter.tap) is used by VM \(other.name)",
                            hint: "give each VM its own TAP interface (bridge them on the host)")
                    }
                    if let mac, theirs.effectiveMACAddress(vmName: other.name, index: theirIndex) == mac {
                        throw .conflict(
                            "networkAdapters[\(index)].macAddress: \(mac) is used by VM \(other.name)",
                            hint: "choose another address, or leave it out to get a derived one")
                    }
                }
            }
        }
    }

    /// The same image twice in one VM under two spellings (a symlink, `..`): the configuration's
    /// own check only compares the text.
    static func checkDuplicateImages(_ configuration: VMConfiguration) throws(ServiceError) {
        var seen: [String: Int] = [:]
        for (index, disk) in configuration.disks.enumerated() {
            let path = resolved(disk.path)
            if let first = seen[path] {
                throw .conflict(
                    "disks[\(index)].path: \(disk.path) is already attached to this VM (disks[\(first)], LUN \(configuration.disks[first].lun.map { "\($0)" } ?? "?"))",
                    hint: "attach each image once")
            }
            seen[path] = index
        }
    }
}
