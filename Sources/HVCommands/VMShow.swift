import ArgumentParser

/// `hv vm show NAME`.
public struct VMShow: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one VM.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    public init() {}

    public func run() throws {
        try reporting {
            let client = try connection.client
            let info = try client.vm(vm)
            if output.json { return try printJSON(info) }
            // Format and size come from the disks resource; an older hvd without it still shows the rest.
            print(describe(info, disks: try? client.disks(info.id)))
        }
    }
}
