import ArgumentParser
import Configuration

/// `hv vm set NAME [--memory M] [--cpus N] [--name NEW] [--start-action A] [--stop-action A]`
/// (Set-VM): only while Off.
public struct VMSet: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "set", abstract: "Change a VM's configuration (while Off).")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Option(help: "A new name.") var name: String?
    @Option(help: "Guest RAM in MiB.") var memory: UInt64?
    @Option(help: "vCPUs.") var cpus: Int?
    @Option(help: "Notes.") var notes: String?
    @Option(help: "Automatic start action: Nothing, StartIfRunning, Start.") var startAction: String?
    @Option(help: "Automatic stop action at host shutdown: TurnOff, Save, ShutDown.") var stopAction: String?
    public init() {}

    public func validate() throws {
        if name == nil && memory == nil && cpus == nil && notes == nil && startAction == nil && stopAction == nil {
            throw ValidationError("nothing to change: give --name, --memory, --cpus, --notes, --start-action or --stop-action")
        }
        if let startAction, AutomaticStartAction(rawValue: startAction) == nil {
            throw ValidationError("--start-action must be one of: \(AutomaticStartAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let stopAction, AutomaticStopAction(rawValue: stopAction) == nil {
            throw ValidationError("--stop-action must be one of: \(AutomaticStopAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    public func run() throws {
        try reporting {
            let info = try connection.client.updateVM(vm, UpdateVMRequest(
                name: name, memoryMiB: memory, cpus: cpus, notes: notes, automaticStartAction: startAction.flatMap(AutomaticStartAction.init),
                automaticStopAction: stopAction.flatMap(AutomaticStopAction.init)))
            if output.json { try printJSON(info) } else { print(describe(info)) }
        }
    }
}
