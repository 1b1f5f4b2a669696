import ArgumentParser

/// `hv vm delete NAME…` (Remove-VM): only Off VMs; disk files are kept.
public struct VMDelete: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete VMs (they must be Off).", aliases: ["rm"])
    @OptionGroup var connection: Flags.Connection
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]
    public init() {}

    public func run() throws {
        try reporting {
            for vm in vms {
                try connection.client.deleteVM(vm)
                print("deleted \(vm)")
            }
        }
    }
}
