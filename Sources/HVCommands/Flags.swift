import ArgumentParser
import HVClient

/// Options every command shares.
public enum Flags {
    /// Where `hvd` listens.
    public struct Connection: ParsableArguments {
        @Option(name: .customLong("socket"), help: "hvd's API socket (default $HV_SOCKET, else hvd's default).")
        public var socket: String?
        public init() {}
        public var client: HVClient { HVClient(socketPath: socket ?? HVClient.defaultSocketPath()) }
    }

    /// Table or JSON output.
    public struct Output: ParsableArguments {
        @Flag(help: "Print JSON instead of a table.")
        public var json = false
        public init() {}
    }
}

/// Completion for VM-name arguments: asks hvd for the names.
let vmNameCompletion = CompletionKind.custom { _, _, _ in
    ((try? HVClient(socketPath: HVClient.defaultSocketPath()).listVMs()) ?? []).map(\.name)
}
