import ArgumentParser

/// `hv vm pause NAME…` (Suspend-VM): the guest's vCPUs stop; memory and devices stay.
public struct VMPause: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause running VMs (their vCPUs stop; hv vm resume continues them).")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]
    public init() {}

    public func run() throws {
        try reporting {
            for vm in vms {
                let info = try connection.client.pause(vm)
                try output.report(info)
            }
        }
    }
}

/// `hv vm resume NAME…` (Resume-VM).
public struct VMResume: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume paused VMs.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]
    public init() {}

    public func run() throws {
        try reporting {
            for vm in vms {
                let info = try connection.client.resume(vm)
                try output.report(info)
            }
        }
    }
}
