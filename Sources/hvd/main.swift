import ArgumentParser
import Logging
import ManagementService

/// `hvd`: SwiftHV's management service (docs/management.md).
struct HVD: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hvd", abstract: "SwiftHV management service: VM inventory, workers and the REST API.")

    @Option(help: "State directory (default /var/lib/swifthv as root, ~/.local/share/swifthv otherwise).")
    var stateDir: String?
    @Option(help: "Runtime directory for sockets (default /run/swifthv as root, $XDG_RUNTIME_DIR/swifthv otherwise).")
    var runtimeDir: String?
    @Option(help: "The API socket (default <runtime-dir>/hvd.sock).")
    var socket: String?
    @Option(help: "The hv-worker executable (default: beside hvd, else on PATH).")
    var worker: String?
    @Option(name: .customLong("allow-dir"), help: "A directory VM kernels, initrds and disks may come from (repeatable).")
    var allowDir: [String] = []
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"
    @Option(help: "The group the API socket gets (mode 0660: its members may use hvd).")
    var socketGroup: String?
    @Option(help: "Also serve the API on TCP HOST:PORT (TLS and a bearer token; off by default).")
    var listen: String?
    @Option(help: "PEM certificate (chain) for --listen.")
    var tlsCertificate: String?
    @Option(help: "PEM private key for --listen.")
    var tlsKey: String?
    @Option(help: "File holding the bearer token TCP clients must send (not accessible to others: chmod 600).")
    var tokenFile: String?
    @Flag(help: "Serve --listen without TLS; refused unless HOST is a loopback address.")
    var insecurePlainTcp = false

    func validate() throws {
        if listen == nil, tlsCertificate != nil || tlsKey != nil || tokenFile != nil || insecurePlainTcp {
            throw ValidationError("--tls-certificate, --tls-key, --token-file and --insecure-plain-tcp only apply with --listen HOST:PORT")
        }
    }

    func run() throws {
        let state = stateDir ?? ServicePaths.defaultStateDirectory
        let paths = ServicePaths(stateDirectory: state, runtimeDirectory: runtimeDir ?? ServicePaths.defaultRuntimeDirectory(stateDirectory: state))
        var logger = Logger(label: "hvd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        do {
            let remote = try listen.map {
                try RemoteListener.open(listen: $0, certificate: tlsCertificate, key: tlsKey, tokenFile: tokenFile, insecurePlainTCP: insecurePlainTcp)
            }
            let host = try ServiceHost(
                paths: paths, socketPath: socket, workerExecutable: worker, allowedDirectories: allowDir, logger: logger,
                socketGroup: socketGroup, remote: remote)
            host.run()
        } catch {
            logger.critical("hvd: \(error)")
            throw ExitCode.failure
        }
    }
}

HVD.main()
