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

    func run() throws {
        let state = stateDir ?? ServicePaths.defaultStateDirectory
        let paths = ServicePaths(stateDirectory: state, runtimeDirectory: runtimeDir ?? ServicePaths.defaultRuntimeDirectory(stateDirectory: state))
        var logger = Logger(label: "hvd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        do {
            let host = try ServiceHost(paths: paths, socketPath: socket, workerExecutable: worker, allowedDirectories: allowDir, logger: logger)
            host.run()
        } catch {
            logger.critical("hvd: \(error)")
            throw ExitCode.failure
        }
    }
}

HVD.main()
