import ArgumentParser
import DiskCommands

/// `hv-worker`: runs one VM (`run`), and, until `hv` exists, hosts the disk and image tools.
public struct WorkerCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hv-worker",
        abstract: "SwiftHV worker: runs one virtual machine on /dev/kvm.",
        subcommands: [RunCommand.self, DiskCommand.self, ImageCommand.self]
    )
    public init() {}
}
