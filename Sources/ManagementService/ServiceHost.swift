import Foundation
import Logging
import SocketTransport

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
    /// The state directory's `hvd.lock`, held (flock) for this process's life: one `hvd` per
    /// state directory. Close-on-exec, so workers (which outlive `hvd`) do not keep it locked.
    private let lockDescriptor: Int32

    ///   - socketGroup: the group the API socket gets (mode 0660 lets its members in).
    ///   - remote: the TCP listener (`--listen`), already checked and bound.
    public init(
        paths: ServicePaths, socketPath: String?, workerExecutable: String?, allowedDirectories: [String], logger: Logger,
        socketGroup: String? = nil, remote: RemoteListener? = nil
    ) throws {
        try paths.create()
        let lockPath = paths.stateDirectory + "/hvd.lock"
        lockDescriptor = open(lockPath, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        guard lockDescriptor >= 0 else { throw ServiceStartError("cannot open \(lockPath): \(String(cString: strerror(errno)))") }
        guard flock(lockDescriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(lockDescriptor)
            throw ServiceStartError("another hvd is already running with the state directory \(paths.stateDirectory)")
        }
        let supervisor = WorkerSupervisor(workerExecutable: workerExecutable ?? WorkerSupervisor.defaultWorkerExecutable(), paths: paths)
        service = try VMService(
            paths: paths, supervisor: supervisor,
            allowedDirectories: [paths.imagesDirectory, ServicePaths.guestImageCache] + allowedDirectories, logger: logger)
        self.socketPath = socketPath ?? paths.apiSocket
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: self.socketPath).deletingLastPathComponent().path, withIntermediateDirectories: true)
        server = try APIServer(service: service, socketPath: self.socketPath, openAPIDocument: OpenAPIDocument.yaml, remote: remote)
        if let socketGroup {
            do { try UnixSocket.setGroup(path: self.socketPath, group: socketGroup) } catch {
                throw ServiceStartError("--socket-group \(socketGroup): \(error)")
            }
        }
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
        if let remote = server.remote {
            service.logger.info("hvd: serving the API on \(remote.url) (\(remote.tls == nil ? "plain TCP, loopback only" : "TLS"), bearer token required)")
        }
        server.run()
        unlink(socketPath)
        service.logger.info("hvd: stopped; running VMs keep running and are re-attached at the next start")
        withExtendedLifetime(sources) {}
    }
}

/// Why `hvd` cannot start.
public struct ServiceStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
