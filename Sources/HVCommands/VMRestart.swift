import ArgumentParser

/// `hv vm restart NAME…` (Restart-VM -Force).
public struct VMRestart: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "restart", abstract: "Turn VMs off and start them again.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]
    public init() {}

    public func run() throws {
        try reporting {
            for vm in vms {
                let info = try connection.client.restart(vm)
                try output.report(info)
            }
        }
    }
}
