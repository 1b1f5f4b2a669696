import ArgumentParser
import Foundation

/// `hv host`: the host and hvd (`hv host show`, the default, and `hv host stop-vms`).
public struct HostGroup: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "host", abstract: "Show the host and hvd, or stop its VMs as the host shuts down.",
        subcommands: [HostShow.self, HostStopVMs.self], defaultSubcommand: HostShow.self)
    public init() {}
}

/// `hv host [show]`: the host and hvd.
public struct HostShow: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the host and hvd.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    public init() {}

    public func run() throws {
        try reporting {
            let host = try connection.client.host()
            if output.json { return try printJSON(host) }
            print("Host:        \(host.hostname) (\(host.logicalProcessors) CPUs, \(host.memoryMiB) MiB)")
            print("KVM:         \(host.kvmAvailable ? "usable" : "not usable")")
            print("hvd:         \(host.serviceVersion), API v\(host.apiVersion), state in \(host.stateDirectory)")
            let states = host.vmsByState.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
            print("VMs:         \(host.vmCount)" + (states.isEmpty ? "" : " (\(states.joined(separator: ", ")))"))
        }
    }
}
