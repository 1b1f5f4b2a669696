import ArgumentParser
import Configuration

/// `hv vm set NAME [--memory M] [--cpus N] [--cmdline …] [--name NEW]` (Set-VM): only while Off.
public struct VMSet: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a VM's configuration (while Off).")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Option(help: "A new name.") var name: String?
    @Option(help: "Guest RAM in MiB.") var memory: UInt64?
    @Option(help: "vCPUs.") var cpus: Int?
    @Option(help: "Notes.") var notes: String?
    public init() {}

    public func validate() throws {
        if name == nil && memory == nil && cpus == nil && notes == nil { throw ValidationError("nothing to change: give --name, --memory, --cpus or --notes") }
    }

    public func run() throws {
        try reporting {
            let info = try connection.client.updateVM(vm, UpdateVMRequest(name: name, memoryMiB: memory, cpus: cpus, notes: notes))
            if output.json { try printJSON(info) } else { print(describe(info)) }
        }
    }
}
