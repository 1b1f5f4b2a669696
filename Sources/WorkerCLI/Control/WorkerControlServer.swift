import Configuration
import Foundation
import SocketTransport
import Synchronization
import VMM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The worker's end of the control channel (`hv-worker run --control-socket PATH`): serves
/// status (with per-vCPU exit counts), turn off, graceful shutdown, pause, resume and console attach to `hvd` (protocol in Configuration's
/// `ControlMessage`). Also writes the pid file and, at exit, the exit record.
///
/// ## Concurrency model
/// One accept thread and one thread per connection, all blocking; they only call `Sendable` VM
/// entry points. A console connection gets a writer thread fed from a bounded queue so a slow
/// `hvd` never blocks the vCPU thread (overflow drops output and says so).
final class WorkerControlServer: Sendable {
    let paths: WorkerRuntimePaths
    /// The VM served; replaced when the worker restarts the guest in place (`--on-reset restart`).
    private let current: Mutex<VMInstance>
    private var vm: VMInstance { current.withLock { $0 } }
    private let console: ConsoleBroadcaster
    private let listener: UnixSocket
    private let started = Date()
    private let stopping = Atomic<Bool>(false)

    init(socketPath: String, vm: VMInstance, console: ConsoleBroadcaster) throws {
        paths = WorkerRuntimePaths(controlSocket: socketPath)
        current = Mutex(vm)
        self.console = console
        listener = try UnixSocket.listen(path: socketPath, mode: 0o600)
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: paths.pidFile), options: .atomic)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "control-accept"
        thread.start()
    }

    /// Serves `vm` from now on (after an in-place restart).
    func attach(_ vm: VMInstance) { current.withLock { $0 = vm } }

    /// Makes the worker its own session leader, so it outlives `hvd` and a terminal hang-up or a
    /// signal to `hvd`'s process group does not reach it.
    static func detachFromParentSession() { _ = setsid() }

    /// Writes the exit record (atomically) and removes the socket and pid file.
    static func recordExit(socketPath: String, _ record: WorkerExitRecord) {
        let paths = WorkerRuntimePaths(controlSocket: socketPath)
        if let data = try? JSONEncoder().encode(record) {
            try? data.write(to: URL(fileURLWithPath: paths.exitRecord), options: .atomic)
        }
        unlink(paths.pidFile)
        unlink(paths.controlSocket)
    }

    private func acceptLoop() {
        while let connection = try? listener.accept() {
            let thread = Thread { [self] in serve(connection) }
            thread.name = "control-conn"
            thread.start()
        }
    }

    private func status() -> WorkerStatus {
        let vm = self.vm
        let paused = vm.isPaused
        let phase = stopping.load(ordering: .relaxed) ? "stopping" : paused ? "paused" : "running"
        let statistics = vm.machine.statistics
        return WorkerStatus(
            pid: getpid(), vmName: vm.configuration.name, phase: phase,
            uptimeSeconds: Date().timeIntervalSince(started),
            gracefulShutdownAvailable: vm.hyperV?.integrationServices.shutdown != nil,
            paused: paused, vcpuExits: statistics.map(\.exits), vcpuExitsByReason: statistics.map(\.exitsByReason))
    }

    private func send(_ message: ControlMessage, on connection: UnixSocket) throws {
        try connection.writeFrame(try message.encoded())
    }

    private func serve(_ connection: UnixSocket) {
        let reader = BufferedReader(connection)
        do {
            while let payload = try reader.readFrame() {
                let request = try ControlMessage.decode(payload)
                guard request.version <= ControlMessage.protocolVersion else {
                    try send(.init(.error, error: "protocol version \(request.version) is newer than this worker's \(ControlMessage.protocolVersion)"), on: connection)
                    return
                }
                switch request.kind {
                case .status:
                    try send(.init(.status, status: status()), on: connection)
                case .turnOff:
                    stopping.store(true, ordering: .relaxed)
                    vm.requestStop()
                    try send(.init(.ok), on: connection)
                case .shutdown:
                    do {
                        try vm.requestGracefulShutdown()
                        stopping.store(true, ordering: .relaxed)
                        try send(.init(.ok), on: connection)
                    } catch {
                        try send(.init(.error, error: "cannot ask the guest to shut down: \(error)"), on: connection)
                    }
                case .pause:
                    // A stop wins over a pause: a stopping VM's vCPUs must reach their exit.
                    if stopping.load(ordering: .relaxed) {
                        try send(.init(.error, error: "cannot pause: the VM is stopping"), on: connection)
                    } else {
                        vm.pause()
                        try send(.init(.ok), on: connection)
                    }
                case .resume:
                    vm.resume()
                    try send(.init(.ok), on: connection)
                case .save:
                    guard let path = request.path, !path.isEmpty else {
                        try send(.init(.error, error: "save needs a path for the saved-state file"), on: connection)
                        break
                    }
                    if stopping.load(ordering: .relaxed) {
                        try send(.init(.error, error: "cannot save: the VM is stopping"), on: connection)
                        break
                    }
                    do {
                        try vm.save(to: path)
                        stopping.store(true, ordering: .relaxed)
                        // Answer before the worker exits (the stop ends the process).
                        try? send(.init(.ok), on: connection)
                        vm.stopAsSaved(path)
                    } catch {
                        try send(.init(.error, error: "cannot save: \(error)"), on: connection)
                    }
                case .consoleAttach:
                    try send(.init(.ok), on: connection)
                    relayConsole(connection, reader: reader)
                    return
                case .addDisk, .removeDisk, .addNetworkAdapter, .removeNetworkAdapter:
                    try send(changeDevices(request), on: connection)
                default:
                    try send(.init(.error, error: "\(ControlMessage.unknownRequestPrefix) \(request.kind)"), on: connection)
                }
            }
        } catch {
            _ = try? send(.init(.error, error: "\(error)"), on: connection)
        }
    }

    /// Runs a hot-plug request and builds its answer.
    private func changeDevices(_ request: ControlMessage) -> ControlMessage {
        let vm = self.vm
        // A paused guest cannot answer a rescind or rescan; hvd asks to resume first.
        if vm.isPaused { return .init(.error, error: "the VM is paused; resume it first") }
        if stopping.load(ordering: .relaxed) { return .init(.error, error: "the VM is stopping") }
        do throws(HotplugError) {
            switch request.kind {
            case .addDisk:
                guard var disk = request.disk else { return .init(.error, error: "addDisk needs a disk") }
                disk.lun = try vm.devices.addDisk(disk)
                return .init(.ok, disk: disk)
            case .removeDisk:
                guard let lun = request.lun else { return .init(.error, error: "removeDisk needs a lun") }
                try vm.devices.removeDisk(lun: lun)
                return .init(.ok, lun: lun)
            case .addNetworkAdapter:
                guard var adapter = request.networkAdapter else { return .init(.error, error: "addNetworkAdapter needs a networkAdapter") }
                adapter.macAddress = try vm.devices.addNetworkAdapter(adapter).description
                return .init(.ok, networkAdapter: adapter)
            default:
                guard let text = request.macAddress, let mac = MACAddress(text) else {
                    return .init(.error, error: "removeNetworkAdapter needs a macAddress like 00:15:5d:01:02:03")
                }
                let released = try vm.devices.removeNetworkAdapter(mac: mac)
                // Removed either way; say so when the guest did not answer the rescind.
                return .init(.ok, error: released ? nil : "the guest did not release the adapter's channel in time", macAddress: mac.description)
            }
        } catch {
            return .init(.error, error: error.description)
        }
    }

    /// Streams console output to the connection and feeds its input to COM1 until it closes.
    private func relayConsole(_ connection: UnixSocket, reader: BufferedReader) {
        let queue = ConsoleOutputQueue()
        let (id, history) = console.subscribe { bytes in queue.push(bytes) }
        defer {
            console.unsubscribe(id)
            queue.close()
        }
        queue.push(history)
        let writer = Thread {
            while let chunk = queue.pop() {
                guard (try? connection.writeFrame(ControlMessage(.consoleOutput, data: Data(chunk)).encoded())) != nil else {
                    connection.shutdown()
                    return
                }
            }
        }
        writer.name = "console-out"
        writer.start()
        while let payload = try? reader.readFrame(), let message = try? ControlMessage.decode(payload) {
            switch message.kind {
            case .consoleInput:
                var rest = Array(message.data ?? Data())[...]
                while !rest.isEmpty {
                    let taken = vm.serial.receive(Array(rest))
                    rest = rest.dropFirst(taken)
                    if !rest.isEmpty { usleep(10_000) }
                }
            case .consoleBreak:
                vm.serial.sendBreak()
            default:
                continue
            }
        }
    }
}

/// A bounded byte queue between the vCPU thread (push) and a connection's writer thread (pop).
final class ConsoleOutputQueue: Sendable {
    static let limit = 1 << 20
    private struct State {
        var chunks: [[UInt8]] = []
        var bytes = 0
        var closed = false
        var dropped = false
    }
    private let state = Mutex(State())
    private let ready = DispatchSemaphore(value: 0)

    func push(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        let signal = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            if state.bytes + bytes.count > Self.limit {
                state.dropped = true
                return false
            }
            state.chunks.append(bytes)
            state.bytes += bytes.count
            return true
        }
        if signal { ready.signal() }
    }

    /// The next chunk, or nil once closed.
    func pop() -> [UInt8]? {
        while true {
            ready.wait()
            let next = state.withLock { state -> (chunk: [UInt8]?, done: Bool) in
                if state.closed { return (nil, true) }
                guard !state.chunks.isEmpty else { return (nil, false) }
                var chunk = state.chunks.removeFirst()
                state.bytes -= chunk.count
                if state.dropped {
                    state.dropped = false
                    chunk = Array("\r\n[hv-worker: console output dropped: the reader was too slow]\r\n".utf8) + chunk
                }
                return (chunk, false)
            }
            if next.done { return nil }
            if let chunk = next.chunk { return chunk }
        }
    }

    func close() {
        state.withLock { $0.closed = true }
        ready.signal()
    }
}
