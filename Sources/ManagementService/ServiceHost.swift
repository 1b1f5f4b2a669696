import Foundation
import Logging

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Wires `hvd` together: directories, inventory, recovery of running workers, the API socket.
public final class ServiceHost: Sendable {
    public let service: VMService
    public let server: APIServer
    public let socketPath: String

    /// - Parameters:
    ///   - socketPath: the API socket (default: `<runtime>/hvd.sock`).
    ///   - allowedDirectories: where VM kernels and disks may live (the images directory is always allowed).
    public init(
        paths: ServicePaths, socketPath: String?, workerExecutable: String?, allowedDirectories: [String], logger: Logger
    ) throws {
        let supervisor = WorkerSupervisor(workerExecutable: workerExecutable ?? WorkerSupervisor.defaultWorkerExecutable(), paths: paths)
        service = try VMService(
            paths: paths, supervisor: supervisor,
            allowedDirectories: [paths.imagesDirectory, ServicePaths.guestImageCache] + allowedDirectories, logger: logger)
        self.socketPath = socketPath ?? paths.apiSocket
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: self.socketPath).deletingLastPathComponent().path, withIntermediateDirectories: true)
        server = try APIServer(service: service, socketPath: self.socketPath, openAPIDocument: OpenAPIDocument.yaml)
    }

    /// Recovers workers, then serves until SIGINT/SIGTERM. Workers keep running after `hvd` exits.
    public func run() {
        signal(SIGPIPE, SIG_IGN)
        service.recover()
        if let event = try? service.inventory.log(vm: nil, kind: "service", message: "hvd started, API on \(socketPath)") {
            service.events.publish(event)
        }
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [server] in server.stop() }
            source.resume()
            sources.append(source)
        }
        service.logger.info("hvd: serving the API on \(socketPath), state in \(service.paths.stateDirectory)")
        server.run()
        unlink(socketPath)
        service.logger.info("hvd: stopped; running VMs keep running and are re-attached at the next start")
        withExtendedLifetime(sources) {}
    }
}
