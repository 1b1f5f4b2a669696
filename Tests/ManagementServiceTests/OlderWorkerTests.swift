import Configuration
import Foundation
import HVClient
import ManagementService
import SocketTransport
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A stand-in worker that speaks the control protocol as a worker built before pause/resume
/// and exit counters did: its status has neither `paused` nor `vcpuExits`, and it refuses the new
/// kinds with "unknown request". Its status replies can be delayed, to play a stuck worker.
final class OlderWorker: Sendable {
    let listener: UnixSocket
    let statusDelay = Atomic<Int>(0)  // milliseconds

    init(socketPath: String) throws {
        listener = try UnixSocket.listen(path: socketPath, mode: 0o600)
        try Data("\(getpid())\n".utf8).write(to: URL(fileURLWithPath: WorkerRuntimePaths(controlSocket: socketPath).pidFile))
        Thread { [self] in
            while let connection = try? listener.accept() {
                Thread { [self] in serve(connection) }.start()
            }
        }.start()
    }

    private func serve(_ connection: UnixSocket) {
        let reader = BufferedReader(connection)
        while let frame = try? reader.readFrame(), let request = try? ControlMessage.decode(frame) {
            let reply: ControlMessage
            switch request.kind {
            case .status:
                usleep(useconds_t(statusDelay.load(ordering: .relaxed) * 1000))
                reply = ControlMessage(.status, status: WorkerStatus(pid: getpid(), vmName: "old", phase: "running", uptimeSeconds: 1, gracefulShutdownAvailable: false))
            default:
                reply = ControlMessage(.error, error: "unknown request \(request.kind)")
            }
            guard (try? connection.writeFrame(reply.encoded())) != nil else { return }
        }
    }

    func close() { listener.shutdown() }
}

/// hvd against a worker from before pause/resume: a clear 501, and /metrics neither breaks on
/// a status without exit counters nor waits for a worker that does not answer.
@Suite(.serialized) struct OlderWorkerTests {
    @Test(.enabled(if: TestEnvironment.canRunHVD)) func pauseIsNotSupportedAndMetricsDoNotStall() throws {
        var hvd = try HVDProcess()
        defer { hvd.terminate() }
        let vm = try hvd.client.createVM(CreateVMRequest(name: "old", memoryMiB: 64, boot: BootRequest(kernel: try hvd.fakeKernel())))
        hvd.terminate()

        // The inventory says Running with our stand-in as its worker; hvd re-attaches at start.
        let inventory = try Inventory(path: hvd.stateDirectory + "/inventory.sqlite")
        _ = try inventory.transition(id: vm.id, from: nil, to: .running, reason: nil, workerPID: .some(getpid()), message: "test: running")
        let worker = try OlderWorker(socketPath: hvd.scratch.path + "/run/workers/\(vm.id).sock")
        defer { worker.close() }
        hvd = try hvd.restarted()
        #expect(try hvd.client.vm("old").state == .running)

        do {
            _ = try hvd.client.pause("old")
            Issue.record("pause through an older worker succeeded")
        } catch {
            let refusal = APITests.apiError(error)
            #expect(refusal?.status == 501)
            #expect(refusal?.error == "not_supported")
            #expect(refusal?.message.contains("predates pause") == true, "\(refusal?.message ?? "")")
        }
        #expect(try hvd.client.vm("old").state == .running, "a refused pause changed the state")

        let metrics = String(decoding: try hvd.client.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("# TYPE swifthv_vcpu_exits_total counter"))
        #expect(!metrics.contains(#"swifthv_vcpu_exits_total{vm="old""#))

        // A worker that does not answer status: the scrape still returns within the timeout.
        worker.statusDelay.store(8000, ordering: .relaxed)
        let start = Date()
        let stalled = try hvd.client.send("GET", "/metrics")
        let elapsed = Date().timeIntervalSince(start)
        #expect(stalled.status == 200)
        #expect(elapsed < 3, "/metrics waited \(elapsed) s for a stuck worker")
        worker.statusDelay.store(0, ordering: .relaxed)
    }

    /// A worker from before hot-plug: adding or removing a device on the running VM is a clear
    /// 501 and nothing is stored. (Paused → 409 is checked with a real worker in DeviceAPITests.)
    @Test(.enabled(if: TestEnvironment.canRunHVD)) func hotPlugThroughAnOlderWorkerIs501() throws {
        var hvd = try HVDProcess()
        defer { hvd.terminate() }
        let vm = try hvd.client.createVM(CreateVMRequest(name: "old", memoryMiB: 64, boot: BootRequest(kernel: try hvd.fakeKernel())))
        let image = try DeviceAPITests.rawImage(hvd, "late.img")
        hvd.terminate()
        let inventory = try Inventory(path: hvd.stateDirectory + "/inventory.sqlite")
        _ = try inventory.transition(id: vm.id, from: nil, to: .running, reason: nil, workerPID: .some(getpid()), message: "test: running")
        let worker = try OlderWorker(socketPath: hvd.scratch.path + "/run/workers/\(vm.id).sock")
        defer { worker.close() }
        hvd = try hvd.restarted()

        for (method, path, body) in [
            ("POST", "/v1/vms/old/disks", #"{"path":"\#(image)"}"#), ("POST", "/v1/vms/old/network-adapters", #"{"tap":"tap-old"}"#),
        ] {
            let (status, json) = try rawRequest(hvd.socket, method: method, path: path, body: body)
            #expect(status == 501, "\(method) \(path): \(json)")
            #expect((json["message"] as? String)?.contains("predates hot-add") == true, "\(json)")
        }
        #expect(try hvd.client.vm("old").configuration.disks.isEmpty)
        #expect(try hvd.client.vm("old").configuration.networkAdapters.isEmpty)
    }
}
