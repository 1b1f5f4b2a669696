import ArgumentParser

/// `hv vm start NAME…` (Start-VM).
public struct VMStart: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "start", abstract: "Start VMs.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]
    public init() {}

    public func run() throws {
        try reporting {
            for vm in vms {
                let info = try connection.client.start(vm)
                try output.report(info)
            }
        }
    }
}
