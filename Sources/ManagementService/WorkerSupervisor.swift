import Configuration
import Foundation
import SocketTransport

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Spawns `hv-worker run --config … --control-socket …` for a VM and finds running workers
/// again after an `hvd` restart.
///
/// ## Concurrency model
/// Stateless apart from immutable paths; called under the VM's operation lock.
public struct WorkerSupervisor: Sendable {
    public let workerExecutable: String
    public let paths: ServicePaths
    /// How long a worker may take to open its control socket.
    public var startTimeoutSeconds: Double = 30

    public init(workerExecutable: String, paths: ServicePaths) {
        self.workerExecutable = workerExecutable
        self.paths = paths
    }

    /// `hv-worker` beside this executable, or on PATH.
    public static func defaultWorkerExecutable() -> String {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let sibling = here.appendingPathComponent("hv-worker").path
        if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        return "hv-worker"
    }

    /// Starts a worker for `vm` and waits until its control channel answers; with `restoring`,
    /// the worker starts from that saved-state file (`--restore`).
    public func spawn(_ vm: VMRecord, restoring savedState: String? = nil) throws(ServiceError) -> WorkerHandle {
        let directory = paths.vmDirectory(vm.id)
        let runtime = WorkerRuntimePaths(controlSocket: paths.workerSocket(vm.id))
        let configPath = directory + "/config.json"
        let logPath = directory + "/worker.log"
        let process = Process()
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for stale in [runtime.controlSocket, runtime.pidFile, runtime.exitRecord] { unlink(stale) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(vm.configuration).write(to: URL(fileURLWithPath: configPath), options: .atomic)
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            guard let log = FileHandle(forWritingAtPath: logPath) else { throw ServiceError.workerFailed("cannot open \(logPath)") }
            log.seekToEndOfFile()
            if workerExecutable.contains("/") {
                process.executableURL = URL(fileURLWithPath: workerExecutable)
                process.arguments = []
            } else {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = [workerExecutable]
            }
            process.arguments? += [
                "run", "--config", configPath, "--control-socket", runtime.controlSocket, "--console-log", directory + "/console.log",
            ]
            if let savedState { process.arguments? += ["--restore", savedState] }
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = log
            try process.run()
            try? log.close()
        } catch {
            throw .workerFailed("cannot start hv-worker (\(workerExecutable)): \(error)", hint: "hvd --worker PATH names the worker executable")
        }
        let deadline = Date().addingTimeInterval(startTimeoutSeconds)
        let handle = WorkerHandle(vmID: vm.id, pid: process.processIdentifier, paths: runtime, process: ProcessBox(process))
        while Date() < deadline {
            if !process.isRunning {
                process.waitUntilExit()
                throw .workerFailed("the worker exited before the VM ran: \(Self.failureSummary(runtime: runtime, log: logPath))")
            }
            if let reply = try? handle.request(.status, timeoutSeconds: 5), reply.kind == .status { return handle }
            usleep(50_000)
        }
        process.terminate()
        throw .timeout("the worker did not open its control socket within \(Int(startTimeoutSeconds)) s", hint: "see \(logPath)")
    }

    /// The worker still running for `vm` (after an `hvd` restart), or nil.
    public func reattach(_ vm: VMRecord) -> WorkerHandle? {
        let runtime = WorkerRuntimePaths(controlSocket: paths.workerSocket(vm.id))
        guard let text = try? String(contentsOfFile: runtime.pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), kill(pid, 0) == 0
        else { return nil }
        let handle = WorkerHandle(vmID: vm.id, pid: pid, paths: runtime, process: nil)
        guard let reply = try? handle.request(.status, timeoutSeconds: 5), reply.kind == .status, reply.status?.pid == pid else {
            return nil
        }
        return handle
    }

    /// Why a worker that never came up failed: its exit record, else its log's last lines.
    static func failureSummary(runtime: WorkerRuntimePaths, log: String) -> String {
        if let data = FileManager.default.contents(atPath: runtime.exitRecord),
            let record = try? JSONDecoder().decode(WorkerExitRecord.self, from: data)
        {
            return record.message
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let lines = text.split(whereSeparator: \.isNewline).suffix(3).map { $0.trimmingCharacters(in: .whitespaces) }
        return lines.isEmpty ? "no output (see \(log))" : lines.joined(separator: " / ")
    }

    /// The last stop's exit record left by a worker that is gone, if any.
    public func leftoverExit(_ vm: VMRecord) -> WorkerExitRecord? {
        let runtime = WorkerRuntimePaths(controlSocket: paths.workerSocket(vm.id))
        guard let data = FileManager.default.contents(atPath: runtime.exitRecord) else { return nil }
        return try? JSONDecoder().decode(WorkerExitRecord.self, from: data)
    }
}
