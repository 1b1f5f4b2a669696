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
            let info = try connection.client.vm(vm)
            if output.json { try printJSON(info) } else { print(describe(info)) }
        }
    }
}
