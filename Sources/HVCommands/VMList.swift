import ArgumentParser

/// `hv vm list` (Get-VM).
public struct VMList: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List VMs.", aliases: ["ls"])
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    public init() {}

    public func run() throws {
        try reporting {
            let vms = try connection.client.listVMs()
            if output.json { return try printJSON(vms) }
            var table = Table(VMInfoColumns.header)
            table.rows = vms.map(\.tableRow)
            print(table.render())
        }
    }
}

enum VMInfoColumns {
    static let header = ["NAME", "STATE", "CPUS", "MEMORY", "ID"]
}
