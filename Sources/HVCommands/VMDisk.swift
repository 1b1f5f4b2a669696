import ArgumentParser
import Configuration
import HVClient

/// `hv vm disk add|remove|list` (Add-/Remove-/Get-VMHardDiskDrive; virsh attach-disk, domblklist).
public struct VMDisk: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "disk", abstract: "Attach, detach and list a VM's disks (Off or Running: hot-add and hot-remove).",
        subcommands: [VMDiskAdd.self, VMDiskRemove.self, VMDiskList.self])
    public init() {}
}

/// `hv vm disk add VM PATH [--read-only] [--lun N]`.
public struct VMDiskAdd: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Attach a raw or VHDX image to the VM's SCSI controller.",
        discussion: "The image must lie in a directory hvd allows. Without --lun it takes the lowest free LUN.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Argument(help: "The image (relative paths are taken from the current directory).", completion: .file()) var path: String
    @Flag(name: [.customLong("read-only"), .customLong("ro")], help: "Attach write-protected.") var readOnly = false
    @Option(help: "The SCSI LUN (0...63).") var lun: UInt8?
    public init() {}

    public func validate() throws {
        if let lun, lun > DiskAttachment.maximumLUN { throw ValidationError("--lun must be within 0...\(DiskAttachment.maximumLUN)") }
    }

    public func run() throws {
        try reporting {
            let disk = try connection.client.addDisk(vm, DiskAttachment(path: VMCreate.absolute(path), lun: lun, readOnly: readOnly))
            if output.json { try printJSON(disk) } else { print("attached \(disk.path) to \(vm) at LUN \(disk.lun)") }
        }
    }
}

/// `hv vm disk remove VM LUN…`.
public struct VMDiskRemove: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Detach disks by LUN (the image files stay).", aliases: ["rm"])
    @OptionGroup var connection: Flags.Connection
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Argument(help: "LUNs (hv vm disk list shows them).") var luns: [UInt8]
    public init() {}

    public func validate() throws {
        if let lun = luns.first(where: { $0 > DiskAttachment.maximumLUN }) {
            throw ValidationError("LUN \(lun) is outside 0...\(DiskAttachment.maximumLUN)")
        }
    }

    public func run() throws {
        try reporting {
            for lun in luns {
                try connection.client.removeDisk(vm, lun: lun)
                print("detached LUN \(lun) from \(vm)")
            }
        }
    }
}

/// `hv vm disk list VM`.
public struct VMDiskList: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List a VM's disks.", aliases: ["ls"])
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    public init() {}

    public func run() throws {
        try reporting {
            let disks = try connection.client.disks(vm)
            if output.json { return try printJSON(disks) }
            print(diskTable(disks).render())
        }
    }
}

func diskTable(_ disks: [VMDiskInfo]) -> Table {
    var table = Table(["LUN", "FORMAT", "SIZE", "RO", "PATH"])
    table.rows = disks.map { ["\($0.lun)", $0.format, $0.virtualSizeBytes.map(byteCount) ?? "?", $0.readOnly ? "yes" : "no", $0.path] }
    return table
}
