import ArgumentParser
import Configuration
import HVClient

/// What every per-VM action verb (`start`, `stop`, `pause`, `resume`, `restart`, `save`,
/// `discard`) takes: the connection, `--json`, and one or more VM names or ids.
struct VMActionTargets: ParsableArguments {
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "VM names or ids.", completion: vmNameCompletion) var vms: [String]

    /// Runs `action` for each VM in order and reports each result ("NAME: STATE" or JSON); the
    /// first failure stops the rest and sets the exit status.
    func perform(_ action: (HVClient, String) throws -> VMInfo) throws {
        try reporting {
            let client = try connection.client
            for vm in vms { try output.report(action(client, vm)) }
        }
    }
}
