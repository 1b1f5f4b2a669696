import ArgumentParser
import Configuration
import Foundation

/// `hv vm events [NAME] [--follow]`: the event log, optionally live (server-sent events).
public struct VMEvents: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "events", abstract: "Show the event log (all VMs or one).")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Flag(name: .shortAndLong, help: "Keep printing new events.") var follow = false
    @Option(help: "Show at most this many past events.") var limit: Int = 50
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String?
    public init() {}

    public func run() throws {
        try reporting {
            let client = try connection.client
            let past = try client.events(vm: vm, limit: max(1, min(limit, 10000)))
            for event in past { try emit(event) }
            guard follow else { return }
            try client.followEvents(vm: vm, after: past.last?.id ?? 0) { event in
                (try? emit(event)) != nil
            }
        }
    }

    private func emit(_ event: VMEvent) throws {
        if output.json { try printJSONLine(event) } else { FileHandle.standardOutput.write(Data((eventLine(event) + "\n").utf8)) }
    }
}
