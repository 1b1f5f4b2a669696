import Configuration
import Foundation
import HVClient
import Synchronization
import Testing

/// The REST API against a real `hvd` process (no VM is started: no KVM needed).
@Suite(.serialized) struct APITests {
    static func apiError(_ error: HVClientError) -> (status: Int, error: String, message: String)? {
        guard case .api(let status, let body) = error else { return nil }
        return (status, body.error, body.message)
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func createListGetUpdateDelete() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let kernel = try hvd.fakeKernel()
        let created = try client.createVM(CreateVMRequest(name: "web", memoryMiB: 256, cpus: 2, boot: BootRequest(kernel: kernel), notes: "n"))
        #expect(created.state == .off)
        #expect(created.configuration.memoryMiB == 256)
        #expect(created.configuration.boot.cmdline == "console=ttyS0")
        #expect(try client.listVMs().map(\.name) == ["web"])
        #expect(try client.vm("web") == created)
        #expect(try client.vm(created.id) == created)
        let updated = try client.updateVM("web", UpdateVMRequest(name: "web2", cpus: 4))
        #expect(updated.name == "web2" && updated.configuration.cpus == 4 && updated.configuration.memoryMiB == 256)
        try client.deleteVM(created.id)
        #expect(try client.listVMs().isEmpty)
        let kinds = try client.events().compactMap { $0.vmID == created.id ? $0.kind : nil }
        #expect(kinds == ["created", "updated", "deleted"])
        // The socket is group-accessible, not world-accessible.
        let mode = (try FileManager.default.attributesOfItem(atPath: hvd.socket)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o660)
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func badInputIs4xxAndChangesNothing() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let kernel = try hvd.fakeKernel()
        _ = try hvd.client.createVM(CreateVMRequest(name: "keep", boot: BootRequest(kernel: kernel)))
        let before = try hvd.client.listVMs()
        let eventsBefore = try hvd.client.events().count
        let cases: [(String, String, String?, Int, String)] = [
            ("POST", "/v1/vms", "{not json", 400, "invalid_request"),
            ("POST", "/v1/vms", #"{"name":"x","boot":{"kernel":"\#(kernel)"},"colour":"red"}"#, 400, "invalid_request"),
            ("POST", "/v1/vms", #"{"name":"x","memoryMiB":99999999999,"boot":{"kernel":"\#(kernel)"}}"#, 400, "invalid_request"),
            ("POST", "/v1/vms", #"{"name":"x","cpus":100000,"boot":{"kernel":"\#(kernel)"}}"#, 400, "invalid_request"),
            ("POST", "/v1/vms", #"{"name":"KEEP","boot":{"kernel":"\#(kernel)"}}"#, 409, "conflict"),
            ("POST", "/v1/vms", #"{"name":"x","boot":{"kernel":"/etc/shadow"}}"#, 400, "invalid_request"),
            ("PATCH", "/v1/vms/keep", #"{"memoryMiB":0}"#, 400, "invalid_request"),
            ("PATCH", "/v1/vms/keep", #"{"boot":{"kernel":"/bin/sh"}}"#, 400, "invalid_request"),
            ("POST", "/v1/vms/keep/stop", nil, 409, "invalid_state"),
            ("POST", "/v1/vms/keep/turn-off", nil, 409, "invalid_state"),
            ("POST", "/v1/vms/keep/restart", nil, 409, "invalid_state"),
            ("POST", "/v1/vms/keep/resume", nil, 409, "invalid_state"),
            ("POST", "/v1/vms/keep/pause", nil, 409, "invalid_state"),
            ("POST", "/v1/vms/keep/stop", #"{"timeoutSeconds":-1}"#, 400, "invalid_request"),
            ("GET", "/v1/vms/keep/console", nil, 409, "invalid_state"),
            ("GET", "/v1/vms/nope", nil, 404, "not_found"),
            ("DELETE", "/v1/vms/nope", nil, 404, "not_found"),
            ("POST", "/v1/vms/keep/explode", nil, 404, "not_found"),
            ("PUT", "/v1/vms", "{}", 400, "invalid_request"),
            ("GET", "/v2/anything", nil, 404, "not_found"),
            ("GET", "/v1/vms/nope/events?=&&=x&after=zz&limit=-3", nil, 404, "not_found"),
        ]
        for (method, path, body, status, code) in cases {
            let (got, json) = try rawRequest(hvd.socket, method: method, path: path, body: body)
            #expect(got == status, "\(method) \(path) \(body ?? "")")
            #expect(json["error"] as? String == code, "\(method) \(path)")
            #expect((json["message"] as? String)?.isEmpty == false, "\(method) \(path) has no message")
        }
        #expect(try hvd.client.listVMs() == before)
        #expect(try hvd.client.events().count == eventsBefore, "a refused request logged an event")
        // Odd query strings are not errors.
        #expect(try hvd.client.send("GET", "/v1/events?=&&=x&after=zz&limit=-3").status == 200)
        #expect(try hvd.client.send("GET", "/v1/vms?%zz=%").status == 200)
    }

    /// A worker that cannot build its VM (here: a kernel that is not one): start answers 502
    /// with the worker's own reason, and the VM is Off again with that reason.
    @Test(.enabled(if: TestEnvironment.canRunHVD)) func startOfABrokenVMFailsCleanly() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        _ = try hvd.client.createVM(CreateVMRequest(name: "broken", boot: BootRequest(kernel: try hvd.fakeKernel())))
        do {
            _ = try hvd.client.start("broken")
            Issue.record("a VM with a garbage kernel started")
        } catch {
            let body = Self.apiError(error)
            #expect(body?.status == 502)
            #expect(body?.error == "worker_failed")
            #expect(body?.message.contains("the worker exited before the VM ran") == true, "\(error)")
        }
        let vm = try hvd.client.vm("broken")
        #expect(vm.state == .off)
        #expect(vm.stateReason?.isEmpty == false)
        #expect(vm.workerPID == nil)
        let states = try hvd.client.events(vm: "broken").compactMap { $0.kind == "state" ? $0.state : nil }
        #expect(states == [.starting, .off])
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func oversizedAndGarbageRequests() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let big = String(repeating: "x", count: 300 * 1024)
        let (status, json) = try rawRequest(hvd.socket, method: "POST", path: "/v1/vms", body: #"{"name":"\#(big)"}"#)
        #expect(status == 413)
        #expect(json["error"] as? String == "payload_too_large")
        // Not HTTP at all: a 400, and the server keeps serving.
        let socket = try SocketTransportProbe.send(hvd.socket, "HELLO\r\n\r\n")
        #expect(socket.hasPrefix("HTTP/1.1 400"))
        #expect(try hvd.client.host().apiVersion == 1)
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func oneHVDPerStateDirectory() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let second = Process()
        second.executableURL = URL(fileURLWithPath: TestEnvironment.hvd)
        second.arguments = ["--state-dir", hvd.stateDirectory, "--runtime-dir", hvd.scratch.path + "/run2"]
        let pipe = Pipe()
        second.standardError = pipe
        second.standardOutput = pipe
        try second.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        second.waitUntilExit()
        #expect(second.terminationStatus != 0)
        #expect(output.contains("another hvd is already running"), "\(output)")
        #expect(try hvd.client.host().apiVersion == 1, "the first hvd is unaffected")
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func servesOpenAPIMetricsAndHost() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let document = try hvd.client.send("GET", "/openapi.yaml")
        #expect(document.status == 200)
        let inRepo = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("openapi/hvd.yaml"), encoding: .utf8)
        #expect(String(decoding: document.body, as: UTF8.self) == inRepo, "run scripts/gen-openapi after editing openapi/hvd.yaml")
        let metrics = String(decoding: try hvd.client.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("# TYPE hvd_vms gauge"))
        #expect(metrics.contains("hvd_vms{state=\"Off\"} 0"))
        #expect(metrics.contains("hvd_api_requests_total{method=\"GET\",status=\"200\"}"))
        let host = try hvd.client.host()
        #expect(host.stateDirectory == hvd.stateDirectory)
        #expect(host.vmCount == 0)
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD)) func eventStreamDeliversNewEvents() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let kernel = try hvd.fakeKernel()
        let seen = Mutex<[String]>([])
        let client = hvd.client
        let follower = Thread {
            do { try client.followEvents { event in
                seen.withLock { $0.append(event.message) }
                return !event.message.hasPrefix("created streamed")
            } } catch { seen.withLock { $0.append("error: \(error)") } }
        }
        follower.start()
        usleep(300_000)
        _ = try client.createVM(CreateVMRequest(name: "streamed", boot: BootRequest(kernel: kernel)))
        #expect(hvd.wait(timeout: 10) { seen.withLock { $0.contains { $0.hasPrefix("created streamed") } } }, "\(seen.withLock { $0 })")
        #expect(seen.withLock { $0.first?.hasPrefix("hvd started") } == true, "the stream replays the log first")
    }
}
