import ArgumentParser
import DiskCommands

/// `hv`: SwiftHV's command line. VM commands talk only to `hvd`'s API; `hv disk` works on local
/// image files, as `New-VHD` and `qemu-img` do.
public struct HVCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hv",
        abstract: "Manage SwiftHV virtual machines (through hvd).",
        discussion: "VMs are named by name or id. Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 wrong state or conflict, 5 hvd unreachable, 6 timeout.",
        subcommands: [VMGroup.self, DiskCommand.self, HostGroup.self])
    public init() {}
}

/// `hv vm …`
public struct VMGroup: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vm", abstract: "Create, run and inspect VMs.",
        subcommands: [
            VMCreate.self, VMList.self, VMShow.self, VMStart.self, VMStop.self, VMPause.self, VMResume.self, VMSave.self, VMDiscard.self, VMRestart.self, VMDelete.self, VMConsole.self,
            VMEvents.self, VMSet.self, VMDisk.self, VMNic.self,
        ])
    public init() {}
}
