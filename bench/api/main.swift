// API benchmark (not a test): swift run -c release api-bench [--vms 1000] [--start 0 --kernel K --initrd I]
// Starts its own hvd on a scratch state directory, fills the inventory, then measures GET/list
// latency (p50/p99), create throughput, optionally N concurrent starts, and hvd's RSS.
// With openssl on PATH it also serves TLS on loopback (hvd --listen) and measures the same GET
// over TLS beside the Unix socket (one request per connection: a TCP + TLS handshake each).
import Configuration
import Foundation
import HVClient
import SocketTransport

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

func option(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

let vmCount = Int(option("--vms") ?? "1000") ?? 1000
let startCount = Int(option("--start") ?? "0") ?? 0
let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
let scratch = "/tmp/hvbench-\(getpid())"
try FileManager.default.createDirectory(atPath: scratch + "/state/images", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }

let hvd = Process()
hvd.executableURL = buildDirectory.appendingPathComponent("hvd")
var hvdArguments = ["--state-dir", scratch + "/state", "--runtime-dir", scratch + "/run", "--log-level", "warning"]
for path in [option("--kernel"), option("--initrd")].compactMap({ $0 }) {
    hvdArguments += ["--allow-dir", URL(fileURLWithPath: path).deletingLastPathComponent().path]
}
// A self-signed certificate and a token for the TLS listener.
let tlsPort = UInt16(20000 + getpid() % 20000)
let openssl = Process()
openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
openssl.arguments = [
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", scratch + "/key.pem",
    "-out", scratch + "/cert.pem", "-days", "1", "-subj", "/CN=bench", "-addext", "subjectAltName=IP:127.0.0.1",
]
openssl.standardOutput = FileHandle.nullDevice
openssl.standardError = FileHandle.nullDevice
let haveTLS = (try? openssl.run()) != nil && { openssl.waitUntilExit(); return openssl.terminationStatus == 0 }()
if haveTLS {
    try Data("bench-token-0123456789abcdef\n".utf8).write(to: URL(fileURLWithPath: scratch + "/token"))
    chmod(scratch + "/token", 0o600)
    hvdArguments += [
        "--listen", "127.0.0.1:\(tlsPort)", "--tls-certificate", scratch + "/cert.pem", "--tls-key", scratch + "/key.pem",
        "--token-file", scratch + "/token",
    ]
} else {
    print("openssl not found: TLS latency not measured")
}
hvd.arguments = hvdArguments
try hvd.run()
defer { hvd.terminate() }
let client = HVClient(socketPath: scratch + "/run/hvd.sock")
while (try? client.host()) == nil { usleep(50_000) }

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
func measure(_ label: String, _ n: Int, _ body: (Int) throws -> Void) rethrows {
    var samples: [Double] = []
    let total = Date()
    for i in 0..<n {
        let start = Date()
        try body(i)
        samples.append(Date().timeIntervalSince(start) * 1000)
    }
    let seconds = Date().timeIntervalSince(total)
    print(String(format: "%@: n=%d p50=%.2f ms p99=%.2f ms (%.0f/s)", label, n, percentile(samples, 0.5), percentile(samples, 0.99), Double(n) / seconds))
}
func rssMiB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/\(hvd.processIdentifier)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

let fakeKernel = scratch + "/state/images/vmlinux"
try Data("fake".utf8).write(to: URL(fileURLWithPath: fakeKernel))
print(String(format: "hvd RSS at start: %.1f MiB", rssMiB()))
try measure("create", vmCount) { i in _ = try client.createVM(CreateVMRequest(name: "bench-\(i)", boot: BootRequest(kernel: fakeKernel))) }
try measure("get (by name, \(vmCount) VMs)", 2000) { i in _ = try client.vm("bench-\(i % vmCount)") }
if haveTLS {
    let remote = HVClient(
        remote: try RemoteEndpoint(url: "https://127.0.0.1:\(tlsPort)", tokenFile: scratch + "/token", caCertificate: scratch + "/cert.pem"))
    try measure("get over TLS TCP (by name, \(vmCount) VMs)", 2000) { i in _ = try remote.vm("bench-\(i % vmCount)") }
    try measure("host over the Unix socket", 2000) { _ in _ = try client.host() }
    try measure("host over TLS TCP", 2000) { _ in _ = try remote.host() }

    // The same GET on one kept-alive connection (what hv does not do, but curl, scrapers and
    // scripts reusing a connection do): no connect and no handshake per request.
    // hvd closes a connection after 1000 requests (APIServer.maximumRequestsPerConnection).
    enum APIServerLimits { static let requestsPerConnection = 1000 }
    func keptAlive(_ label: String, _ stream: any ByteStream, headers: String) throws {
        let reader = BufferedReader(stream)
        try measure(label, APIServerLimits.requestsPerConnection) { i in
            try stream.write(Array("GET /v1/vms/bench-\(i % vmCount) HTTP/1.1\r\nhost: bench\r\n\(headers)\r\n".utf8))
            guard let head = try reader.readHTTPHead(), head.startLine.count > 1, head.startLine[1] == "200" else {
                throw HVClientError.protocolError("keep-alive request \(i) failed")
            }
            _ = try reader.readHTTPBody(for: head, limit: 1 << 20)
        }
    }
    try keptAlive("get, one kept-alive Unix connection", try UnixSocket.connect(path: scratch + "/run/hvd.sock"), headers: "")
    let tcp = try UnixSocket.connectTCP(host: "127.0.0.1", port: tlsPort)
    let tls = try TLSStream.connect(tcp, context: try TLSContext.client(caCertificates: scratch + "/cert.pem"), serverName: "127.0.0.1")
    try keptAlive("get, one kept-alive TLS connection", tls, headers: "authorization: Bearer bench-token-0123456789abcdef\r\n")
}
try measure("list (\(vmCount) VMs)", 100) { _ in _ = try client.listVMs() }
print(String(format: "hvd RSS with %d VMs: %.1f MiB", vmCount, rssMiB()))

if startCount > 0, let kernel = option("--kernel") {
    let boot = BootRequest(kernel: kernel, initrd: option("--initrd"), cmdline: "console=ttyS0 quiet")
    for i in 0..<startCount { _ = try client.createVM(CreateVMRequest(name: "run-\(i)", memoryMiB: 64, boot: boot)) }
    let begin = Date()
    let group = DispatchGroup()
    for i in 0..<startCount {
        group.enter()
        Thread {
            defer { group.leave() }
            do { _ = try client.start("run-\(i)") } catch { print("start run-\(i): \(error)") }
        }.start()
    }
    group.wait()
    print(String(format: "start %d VMs concurrently: %.2f s (until every worker answers)", startCount, Date().timeIntervalSince(begin)))
    print(String(format: "hvd RSS with %d running: %.1f MiB", startCount, rssMiB()))
    for i in 0..<startCount { _ = try? client.turnOff("run-\(i)") }
}
