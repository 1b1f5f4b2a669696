import ArgumentParser
import Foundation
import HVClient

/// Options every command shares.
public enum Flags {
    /// Where `hvd` listens: its Unix socket, or its TCP listener (`--host`, TLS and a token).
    public struct Connection: ParsableArguments {
        @Option(name: .customLong("socket"), help: "hvd's API socket (default $HV_SOCKET, else hvd's default).")
        public var socket: String?
        @Option(help: "hvd's TCP listener, https://HOST:PORT (default $HV_HOST); instead of the socket.")
        public var host: String?
        @Option(help: "The bearer token for --host, in a file (default $HV_TOKEN_FILE).")
        public var tokenFile: String?
        @Option(help: "PEM CA (or self-signed) certificate to trust for --host (default $HV_CA_CERTIFICATE, else the system store).")
        public var caCertificate: String?
        public init() {}

        public func validate() throws {
            if socket != nil && host != nil { throw ValidationError("use either --socket or --host, not both") }
            if host == nil && (tokenFile != nil || caCertificate != nil) && Self.environment("HV_HOST") == nil {
                throw ValidationError("--token-file and --ca-certificate apply only with --host (or HV_HOST)")
            }
        }

        private static func environment(_ name: String) -> String? {
            ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }

        /// The client for these options (`try`: a bad --host, token file or CA certificate fails).
        public var client: HVClient {
            get throws(HVClientError) { try makeClient() }
        }

        /// The client for these options; a bad --host, token file or certificate is a usage error.
        public func makeClient() throws(HVClientError) -> HVClient {
            guard socket == nil, let url = host ?? Self.environment("HV_HOST") else {
                return HVClient(socketPath: socket ?? HVClient.defaultSocketPath())
            }
            guard let tokenFile = tokenFile ?? Self.environment("HV_TOKEN_FILE") else {
                throw .protocolError("--host needs --token-file (or HV_TOKEN_FILE): hvd's TCP listener requires a bearer token")
            }
            let endpoint = try RemoteEndpoint(url: url, tokenFile: tokenFile, caCertificate: caCertificate ?? Self.environment("HV_CA_CERTIFICATE"))
            return HVClient(remote: endpoint)
        }
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
