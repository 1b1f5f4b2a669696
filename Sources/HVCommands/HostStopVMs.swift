import ArgumentParser
import Configuration

/// `hv host stop-vms [--timeout S]`: applies every running VM's automatic stop action (Save,
/// ShutDown, TurnOff), as Hyper-V does when the host shuts down. `dist/swifthv-stop-vms.service`
/// runs it at shutdown; a plain `hvd` restart leaves VMs running.
public struct HostStopVMs: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "stop-vms", abstract: "Apply each running VM's automatic stop action (for host shutdown).",
        discussion: """
            Save saves the VM (a VM that cannot be saved is shut down instead), ShutDown asks the guest and turns it off \
            after --timeout, TurnOff turns it off; all VMs at once. Exit status 1 when a VM was left neither Off nor Saved.
            """)
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Option(help: "Seconds a ShutDown guest gets before it is turned off (default 60).") var timeout: Int?
    public init() {}

    public func validate() throws {
        if let timeout, !(0...3600).contains(timeout) { throw ValidationError("--timeout must be within 0...3600") }
    }

    public func run() throws {
        var stillRunning: [String] = []
        try reporting {
            let response = try connection.client.stopVMs(StopVMsRequest(timeoutSeconds: timeout))
            stillRunning = response.vms.filter { $0.state != .off && $0.state != .saved }.map(\.name)
            if output.json { return try printJSON(response) }
            if response.vms.isEmpty { return print("no running VMs") }
            print(Self.table(response.vms).render())
        }
        if !stillRunning.isEmpty {
            printError("hv: not stopped: \(stillRunning.joined(separator: ", "))")
            throw ExitCode(1)
        }
    }

    static func table(_ outcomes: [VMStopOutcome]) -> Table {
        var table = Table(["NAME", "STOP ACTION", "APPLIED", "STATE", "REASON"])
        table.rows = outcomes.map { [$0.name, $0.automaticStopAction.rawValue, $0.actionApplied.rawValue, $0.state.rawValue, $0.reason] }
        return table
    }
}
