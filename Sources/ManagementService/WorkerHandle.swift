import Configuration
import Foundation
import SocketTransport
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// How and why a worker ended.
public struct WorkerExit: Sendable, Equatable {
    /// `WorkerExitRecord.reason`, or "crashed" when the worker left no record.
    public var reason: String
    public var message: String
}

/// One running `hv-worker`, spawned by this `hvd` or found again after a restart.
///
/// ## Concurrency model
/// Each control request opens its own connection (no shared stream state). A monitor thread
/// holds one idle connection open; its end of stream is the worker's exit. The exit is stored
/// once in a `Mutex` and waiters block on a semaphore per wait call.
public final class WorkerHandle: Sendable {
    public let vmID: String
    public let pid: Int32
    public let paths: WorkerRuntimePaths
    /// Present when this `hvd` spawned the worker (it can read the exit status).
    private let process: ProcessBox?
    private let exit = Mutex<WorkerExit?>(nil)
    private let waiters = Mutex<[DispatchSemaphore]>([])

    init(vmID: String, pid: Int32, paths: WorkerRuntimePaths, process: ProcessBox?) {
        self.vmID = vmID
        self.pid = pid
        self.paths = paths
        self.process = process
    }

    /// Sends one request and reads its reply.
    public func request(_ kind: ControlMessage.Kind, timeoutSeconds: Int = 10) throws -> ControlMessage {
        try request(ControlMessage(kind), timeoutSeconds: timeoutSeconds)
    }

    /// Sends one request message (with its fields) and reads its reply.
    public func request(_ message: ControlMessage, timeoutSeconds: Int = 10) throws -> ControlMessage {
        let socket = try UnixSocket.connect(path: paths.controlSocket)
        socket.setReceiveTimeout(seconds: timeoutSeconds)
        try socket.writeFrame(message.encoded())
        guard let reply = try BufferedReader(socket).readFrame() else { throw FramingError.truncated }
        return try ControlMessage.decode(reply)
    }

    /// Opens a console connection (after `consoleAttach` was accepted).
    public func attachConsole() throws -> (UnixSocket, BufferedReader) {
        let socket = try UnixSocket.connect(path: paths.controlSocket)
        try socket.writeFrame(ControlMessage(.consoleAttach).encoded())
        let reader = BufferedReader(socket)
        guard let reply = try reader.readFrame() else { throw FramingError.truncated }
        let message = try ControlMessage.decode(reply)
        guard message.kind == .ok else { throw ServiceError.workerFailed(message.error ?? "console attach refused") }
        return (socket, reader)
    }

    /// The exit, once the worker has ended.
    public var exited: WorkerExit? { exit.withLock { $0 } }

    /// Waits until the worker exits; false on timeout.
    public func waitForExit(timeoutSeconds: Double) -> Bool {
        let semaphore = DispatchSemaphore(value: 0)
        let done = exit.withLock { exit -> Bool in
            if exit != nil { return true }
            waiters.withLock { $0.append(semaphore) }
            return false
        }
        if done { return true }
        return semaphore.wait(timeout: .now() + timeoutSeconds) == .success || exited != nil
    }

    /// Starts the monitor thread; `onExit` runs once, on that thread, after the worker is gone.
    func monitor(onExit: @escaping @Sendable (WorkerExit) -> Void) {
        let thread = Thread { [self] in
            if let socket = try? UnixSocket.connect(path: paths.controlSocket) {
                let reader = BufferedReader(socket)
                // An idle connection: the worker answers nothing until asked, so this read
                // ends only when the worker's process closes it (exit, crash, kill -9).
                while let frame = try? reader.readFrame(), !frame.isEmpty {}
            }
            let result = determineExit()
            exit.withLock { exit in
                exit = result
                for waiter in waiters.withLock({ $0 }) { waiter.signal() }
            }
            onExit(result)
        }
        thread.name = "worker-monitor"
        thread.start()
    }

    private func determineExit() -> WorkerExit {
        var signalled: Int32?
        if let process = process?.process {
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { signalled = process.terminationStatus }
        } else {
            // Not our child: wait for the pid to go away (bounded; it closed its socket already).
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(50_000) }
        }
        if signalled == nil, let data = FileManager.default.contents(atPath: paths.exitRecord),
            let record = try? JSONDecoder().decode(WorkerExitRecord.self, from: data)
        {
            return WorkerExit(reason: record.reason, message: record.message)
        }
        if let signalled {
            return WorkerExit(reason: "crashed", message: "the worker process (pid \(pid)) was killed by signal \(signalled)")
        }
        return WorkerExit(reason: "crashed", message: "the worker process (pid \(pid)) ended without saying why")
    }
}

/// Foundation's `Process` is not `Sendable`; this box owns it after `run()`.
/// `@unchecked Sendable`: after launch the process is only read (`waitUntilExit`,
/// `terminationReason`, `terminationStatus`), which Foundation synchronizes internally.
final class ProcessBox: @unchecked Sendable {
    let process: Process
    init(_ process: Process) { self.process = process }
}
