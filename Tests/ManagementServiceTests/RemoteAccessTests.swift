import Configuration
import Foundation
import HVClient
@testable import ManagementService
import SocketTransport
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// A self-signed EC certificate and a token made for one test, in a scratch directory.
final class RemoteFixture {
    static let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// nil when the tests can run.
    static var skipReason: String? {
        if let reason = TestEnvironment.hvdSkipReason { return reason }
        return openssl == nil ? "openssl is not installed (apt-get install openssl)" : nil
    }

    static var canRun: Bool {
        if let reason = skipReason {
            print("RemoteAccessTests SKIPPED (TLS listener tests): \(reason)")
            return false
        }
        return true
    }

    let scratch: ScratchDirectory
    var certificate: String { scratch.path + "/cert.pem" }
    var key: String { scratch.path + "/key.pem" }
    var tokenFile: String { scratch.path + "/token" }
    let token = "t0ken-" + UUID().uuidString

    /// - Parameter names: the certificate's subjectAltName entries.
    init(names: String = "DNS:localhost,IP:127.0.0.1") throws {
        scratch = try ScratchDirectory()
        try Self.makeCertificate(at: certificate, key: key, names: names)
        try Data((token + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
        chmod(tokenFile, 0o600)
    }

    static func makeCertificate(at certificate: String, key: String, names: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: openssl ?? "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", certificate,
            "-days", "1", "-subj", "/CN=hvd-test", "-addext", "subjectAltName=\(names)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TLSTestError("openssl req failed") }
    }

    /// A TCP port nothing listens on right now.
    static func freePort() throws -> UInt16 {
        let probe = try UnixSocket.listenTCP(host: "127.0.0.1", port: 0)
        guard let port = probe.localPort else { throw TLSTestError("no local port") }
        return port
    }

    /// An hvd serving TLS on a fresh loopback port, with this fixture's certificate and token.
    func startHVD(port: UInt16) throws -> HVDProcess {
        try HVDProcess(arguments: [
            "--listen", "127.0.0.1:\(port)", "--tls-certificate", certificate, "--tls-key", key, "--token-file", tokenFile,
        ])
    }

    func client(port: UInt16, host: String = "127.0.0.1", tokenFile: String? = nil, trust: String?? = .none) throws -> HVClient {
        let ca: String? = trust ?? certificate
        return HVClient(remote: try RemoteEndpoint(url: "https://\(host):\(port)", tokenFile: tokenFile ?? self.tokenFile, caCertificate: ca))
    }
}

/// The error a client call threw, or nil if it succeeded.
func clientFailure(_ body: () throws -> Void) -> HVClientError? {
    do {
        try body()
        return nil
    } catch {
        return error as? HVClientError ?? .protocolError("not an HVClientError: \(error)")
    }
}

extension HVClientError {
    var apiStatus: Int? {
        if case .api(let status, _) = self { return status }
        return nil
    }
    var unreachableReason: String? {
        if case .unreachable(_, let why) = self { return why }
        return nil
    }
}

struct TLSTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs an executable to its end (killed after `timeout`); its status and output.
func runToEnd(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 20) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning {
        process.terminate()
        process.waitUntilExit()
        throw TLSTestError("\(executable) \(arguments) did not finish in \(timeout) s")
    }
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, output)
}

/// hvd's TCP listener against a real hvd process: TLS, the bearer token, refusals.
@Suite(.serialized) struct RemoteAccessTests {
    @Test(.enabled(if: RemoteFixture.canRun))
    func rightTokenSucceedsAndWrongOrMissingTokenChangesNothing() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try fixture.startHVD(port: port)
        defer { hvd.terminate() }
        let remote = try fixture.client(port: port)

        #expect(try remote.listVMs().isEmpty)
        let kernel = try hvd.fakeKernel()
        let created = try remote.createVM(CreateVMRequest(name: "over-tls", boot: BootRequest(kernel: kernel)))
        #expect(created.name == "over-tls")
        #expect(try hvd.client.listVMs().map(\.name) == ["over-tls"], "the Unix socket sees what TLS created")
        // The event stream over TLS (server-sent events): the log already holds events, so the
        // first arrives at once.
        var followed: [VMEvent] = []
        try remote.followEvents { event in
            followed.append(event)
            return false
        }
        #expect(followed.count == 1)

        // A wrong token: 401, and the create did not happen.
        let wrongFile = fixture.scratch.path + "/wrong"
        try Data("not-the-token-at-all-0123456789".utf8).write(to: URL(fileURLWithPath: wrongFile))
        let wrong = try fixture.client(port: port, tokenFile: wrongFile)
        let sneaky = clientFailure { _ = try wrong.createVM(CreateVMRequest(name: "sneaky", boot: BootRequest(kernel: kernel))) }
        #expect(sneaky?.apiStatus == 401, "a POST with a body gets its 401 too: \(String(describing: sneaky))")
        let refusal = clientFailure { _ = try wrong.listVMs() }
        #expect(refusal?.apiStatus == 401, "a wrong token must be refused: \(String(describing: refusal))")
        #expect(refusal?.description.hasPrefix("401: the token was refused; check --token-file") == true)
        // The same token with one character changed (same length): also refused.
        var nearToken = Array(fixture.token.utf8)
        nearToken[nearToken.count - 1] ^= 1
        let nearFile = fixture.scratch.path + "/near"
        try Data(nearToken).write(to: URL(fileURLWithPath: nearFile))
        #expect(throws: HVClientError.self) { _ = try fixture.client(port: port, tokenFile: nearFile).deleteVM("over-tls") }

        // No token at all, spoken by hand over TLS: 401, WWW-Authenticate and a JSON error.
        let raw = try rawTLSExchange(port: port, certificate: fixture.certificate, request: "DELETE /v1/vms/over-tls HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        #expect(raw.hasPrefix("HTTP/1.1 401 "))
        #expect(raw.lowercased().contains("www-authenticate: bearer"))
        #expect(raw.contains(#""error":"unauthorized""#))

        #expect(try hvd.client.listVMs().map(\.name) == ["over-tls"], "refused requests changed nothing")
        let metrics = String(decoding: try hvd.client.send("GET", "/metrics").body, as: UTF8.self)
        #expect(metrics.contains(#"hvd_api_requests_total{method="DELETE",status="401"}"#))
    }

    @Test(.enabled(if: RemoteFixture.canRun))
    func clientsThatDoNotTrustTheCertificateFail() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try fixture.startHVD(port: port)
        defer { hvd.terminate() }

        // The system trust store does not know a self-signed certificate.
        let systemStore = try fixture.client(port: port, trust: .some(nil))
        let untrusted = clientFailure { _ = try systemStore.listVMs() }
        #expect(untrusted?.unreachableReason?.contains("certificate") == true, "\(String(describing: untrusted))")
        // Trusted, but issued for other names than the one dialled.
        let other = try RemoteFixture(names: "DNS:elsewhere.example")
        let port2 = try RemoteFixture.freePort()
        let hvd2 = try HVDProcess(arguments: [
            "--listen", "127.0.0.1:\(port2)", "--tls-certificate", other.certificate, "--tls-key", other.key, "--token-file", other.tokenFile,
        ])
        defer { hvd2.terminate() }
        let otherClient = try other.client(port: port2)
        let misnamed = clientFailure { _ = try otherClient.listVMs() }
        #expect(misnamed?.unreachableReason?.contains("mismatch") == true, "\(String(describing: misnamed))")
        // And a certificate for "localhost" checks out by name as well as by address.
        #expect(try fixture.client(port: port, host: "localhost").listVMs().isEmpty)
    }

    @Test(.enabled(if: RemoteFixture.canRun))
    func plainHTTPToTheTLSPortFailsAndTheServerKeepsServing() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try fixture.startHVD(port: port)
        defer { hvd.terminate() }

        let plain = try UnixSocket.connectTCP(host: "127.0.0.1", port: port)
        plain.setReceiveTimeout(seconds: 10)
        try plain.write(Array("GET /v1/vms HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \(fixture.token)\r\n\r\n".utf8))
        var answer: [UInt8] = []
        while let more = try? plain.read(), !more.isEmpty { answer += more }
        #expect(!String(decoding: answer, as: UTF8.self).contains("200 OK"), "plain HTTP must not be served on the TLS port")

        // A client that connects and says nothing, then goes away.
        _ = try UnixSocket.connectTCP(host: "127.0.0.1", port: port)

        #expect(try fixture.client(port: port).listVMs().isEmpty, "TLS still served")
        #expect(try hvd.client.listVMs().isEmpty, "the Unix socket still served")
        let metrics = String(decoding: try hvd.client.send("GET", "/metrics").body, as: UTF8.self)
        let failures = metrics.split(separator: "\n").first { $0.hasPrefix("hvd_tls_handshake_failures_total ") }
        #expect(failures.flatMap { Int($0.split(separator: " ")[1]) } ?? 0 >= 1, "\(String(describing: failures))")
    }

    @Test(.enabled(if: RemoteFixture.canRun))
    func unsafeListenerConfigurationsAreRefused() throws {
        let fixture = try RemoteFixture()
        let state = ["--state-dir", fixture.scratch.path + "/state", "--runtime-dir", fixture.scratch.path + "/run"]

        let anyAddress = try runToEnd(TestEnvironment.hvd, state + ["--listen", "0.0.0.0:1", "--insecure-plain-tcp", "--token-file", fixture.tokenFile])
        #expect(anyAddress.status != 0)
        #expect(anyAddress.output.contains("only on a loopback address"), "\(anyAddress.output)")

        let noTLS = try runToEnd(TestEnvironment.hvd, state + ["--listen", "127.0.0.1:1", "--token-file", fixture.tokenFile])
        #expect(noTLS.status != 0)
        #expect(noTLS.output.contains("--tls-certificate"), "\(noTLS.output)")

        let noToken = try runToEnd(TestEnvironment.hvd, state + ["--listen", "127.0.0.1:1", "--tls-certificate", fixture.certificate, "--tls-key", fixture.key])
        #expect(noToken.status != 0)
        #expect(noToken.output.contains("--token-file"), "\(noToken.output)")

        chmod(fixture.tokenFile, 0o644)
        let readable = try runToEnd(
            TestEnvironment.hvd,
            state + ["--listen", "127.0.0.1:1", "--tls-certificate", fixture.certificate, "--tls-key", fixture.key, "--token-file", fixture.tokenFile])
        #expect(readable.status != 0)
        #expect(readable.output.contains("chmod 600"), "\(readable.output)")
    }

    @Test(.enabled(if: TestEnvironment.canRunHVD))
    func socketGroupIsApplied() throws {
        let group = try runToEnd("/usr/bin/id", ["-gn"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        let hvd = try HVDProcess(arguments: ["--socket-group", group])
        defer { hvd.terminate() }
        let attributes = try FileManager.default.attributesOfItem(atPath: hvd.socket)
        #expect(attributes[.groupOwnerAccountName] as? String == group)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o660)

        let scratch = try ScratchDirectory()
        let refused = try runToEnd(
            TestEnvironment.hvd,
            ["--state-dir", scratch.path + "/state", "--runtime-dir", scratch.path + "/run", "--socket-group", "no-such-group-hv"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("no group named no-such-group-hv"), "\(refused.output)")
    }

    @Test(.enabled(if: RemoteFixture.canRun))
    func plainTCPOnLoopbackNeedsTheTokenToo() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try HVDProcess(arguments: ["--listen", "127.0.0.1:\(port)", "--insecure-plain-tcp", "--token-file", fixture.tokenFile])
        defer { hvd.terminate() }
        let endpoint = try RemoteEndpoint(url: "http://127.0.0.1:\(port)", tokenFile: fixture.tokenFile, caCertificate: nil)
        #expect(try HVClient(remote: endpoint).listVMs().isEmpty)
        let socket = try UnixSocket.connectTCP(host: "127.0.0.1", port: port)
        try socket.write(Array("GET /v1/vms HTTP/1.1\r\nhost: x\r\n\r\n".utf8))
        let head = try BufferedReader(socket).readHTTPHead()
        #expect(head?.startLine.dropFirst().first == "401")
    }

    @Test(.enabled(if: RemoteFixture.canRun && FileManager.default.isExecutableFile(atPath: TestEnvironment.buildDirectory.appendingPathComponent("hv").path)))
    func hvVMListOverTLS() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try fixture.startHVD(port: port)
        defer { hvd.terminate() }
        _ = try hvd.client.createVM(CreateVMRequest(name: "listed", boot: BootRequest(kernel: try hvd.fakeKernel())))
        let hv = TestEnvironment.buildDirectory.appendingPathComponent("hv").path

        let listed = try runToEnd(hv, ["vm", "list", "--host", "https://127.0.0.1:\(port)", "--token-file", fixture.tokenFile, "--ca-certificate", fixture.certificate])
        #expect(listed.status == 0, "\(listed.output)")
        #expect(listed.output.contains("listed"))

        // The same through the environment.
        var environment = ProcessInfo.processInfo.environment
        environment["HV_HOST"] = "https://localhost:\(port)"
        environment["HV_TOKEN_FILE"] = fixture.tokenFile
        environment["HV_CA_CERTIFICATE"] = fixture.certificate
        let viaEnvironment = try runToEnd(hv, ["vm", "list", "--json"], environment: environment)
        #expect(viaEnvironment.status == 0, "\(viaEnvironment.output)")
        #expect(viaEnvironment.output.contains("\"listed\""))

        let untrusted = try runToEnd(hv, ["vm", "list", "--host", "https://127.0.0.1:\(port)", "--token-file", fixture.tokenFile])
        #expect(untrusted.status == 5)
        #expect(untrusted.output.contains("certificate"), "\(untrusted.output)")

        let badTokenFile = fixture.scratch.path + "/bad"
        try Data("definitely-not-the-token".utf8).write(to: URL(fileURLWithPath: badTokenFile))
        let refused = try runToEnd(hv, ["vm", "list", "--host", "https://127.0.0.1:\(port)", "--token-file", badTokenFile, "--ca-certificate", fixture.certificate])
        #expect(refused.status != 0)
        #expect(refused.output.contains("401: the token was refused; check --token-file"), "\(refused.output)")
    }

    @Test(.enabled(if: RemoteFixture.canRun))
    func connectionsAreKeptAliveBetweenRequests() throws {
        let fixture = try RemoteFixture()
        let port = try RemoteFixture.freePort()
        let hvd = try fixture.startHVD(port: port)
        defer { hvd.terminate() }
        let auth = "authorization: Bearer \(fixture.token)\r\n"

        let socket = try UnixSocket.connectTCP(host: "127.0.0.1", port: port)
        socket.setReceiveTimeout(seconds: 10)
        let tls = try TLSStream.connect(socket, context: try TLSContext.client(caCertificates: fixture.certificate), serverName: "127.0.0.1")
        let overTLS = try exchange(tls, [
            "GET /v1/vms HTTP/1.1\r\nhost: x\r\n\(auth)\r\n",
            "GET /v1/nothing HTTP/1.1\r\nhost: x\r\n\(auth)\r\n",  // an API error keeps the connection
            "GET /v1/vms HTTP/1.1\r\nhost: x\r\n\r\n",  // no token: 401, and that ends it
            "GET /v1/vms HTTP/1.1\r\nhost: x\r\n\(auth)\r\n",
        ])
        #expect(overTLS.map(\.status) == [200, 404, 401], "\(overTLS)")
        #expect(overTLS.map(\.connection) == ["keep-alive", "keep-alive", "close"])

        let unix = try UnixSocket.connect(path: hvd.socket)
        unix.setReceiveTimeout(seconds: 10)
        let overUnix = try exchange(unix, [
            "GET /v1/host HTTP/1.1\r\nhost: x\r\n\r\n",
            "GET /v1/vms HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "GET /v1/vms HTTP/1.1\r\nhost: x\r\n\r\n",
        ])
        #expect(overUnix.map(\.status) == [200, 200], "\(overUnix)")
        #expect(overUnix.map(\.connection) == ["keep-alive", "close"])
    }

    /// Sends the requests one after another on one connection; the answers until it closes.
    private func exchange(_ stream: any ByteStream, _ requests: [String]) throws -> [(status: Int, connection: String)] {
        let reader = BufferedReader(stream)
        var answers: [(status: Int, connection: String)] = []
        for request in requests {
            guard (try? stream.write(Array(request.utf8))) != nil,
                let head = try? reader.readHTTPHead(), let status = Int(head.startLine[1])
            else { break }
            _ = try reader.readHTTPBody(for: head, limit: 1 << 20)
            answers.append((status, head.header("connection") ?? ""))
        }
        return answers
    }

    /// Sends `request` over TLS by hand (what `HVClient` would never send) and returns the answer.
    private func rawTLSExchange(port: UInt16, certificate: String, request: String) throws -> String {
        let socket = try UnixSocket.connectTCP(host: "127.0.0.1", port: port)
        socket.setReceiveTimeout(seconds: 10)
        let tls = try TLSStream.connect(socket, context: try TLSContext.client(caCertificates: certificate), serverName: "127.0.0.1")
        #expect(["TLSv1.2", "TLSv1.3"].contains(tls.protocolVersion))
        try tls.write(Array(request.utf8))
        var answer: [UInt8] = []
        while let more = try? tls.read(), !more.isEmpty { answer += more }
        return String(decoding: answer, as: UTF8.self)
    }
}

/// The pieces of the listener that need no process.
@Suite struct RemoteListenerUnitTests {
    @Test func tokenComparison() {
        let token = BearerToken(bytes: Array("0123456789abcdef".utf8))
        #expect(token.accepts(authorization: "Bearer 0123456789abcdef"))
        #expect(token.accepts(authorization: "bearer 0123456789abcdef"))
        #expect(!token.accepts(authorization: nil))
        #expect(!token.accepts(authorization: "Bearer"))
        #expect(!token.accepts(authorization: "Bearer "))
        #expect(!token.accepts(authorization: "Basic 0123456789abcdef"))
        #expect(!token.accepts(authorization: "Bearer 0123456789abcde"))
        #expect(!token.accepts(authorization: "Bearer 0123456789abcdef0"))
        #expect(!token.accepts(authorization: "Bearer 0123456789abcdeF"))
        // Lengths 256 apart: the token followed by any 256 bytes is still a different token.
        #expect(!token.accepts(authorization: "Bearer 0123456789abcdef" + String(repeating: "x", count: 256)))
        #expect(!token.accepts(authorization: "Bearer 0123456789abcdef" + String(repeating: "x", count: 512)))
    }

    @Test func hostPortParsing() {
        func parsed(_ text: String) -> String? { RemoteListener.parse(text).map { "\($0.0) \($0.1)" } }
        #expect(parsed("0.0.0.0:8443") == "0.0.0.0 8443")
        #expect(parsed("[::1]:8443") == "::1 8443")
        #expect(parsed("localhost:1") == "localhost 1")
        #expect(RemoteListener.parse("8443") == nil)
        #expect(RemoteListener.parse(":8443") == nil)
        #expect(RemoteListener.parse("host:99999") == nil)
    }

    @Test func loopbackDetection() {
        #expect(UnixSocket.isLoopback(host: "127.0.0.1"))
        #expect(UnixSocket.isLoopback(host: "127.1.2.3"))
        #expect(UnixSocket.isLoopback(host: "::1"))
        #expect(!UnixSocket.isLoopback(host: "0.0.0.0"))
        #expect(!UnixSocket.isLoopback(host: "::"))
        #expect(!UnixSocket.isLoopback(host: "10.0.0.1"))
        #expect(!UnixSocket.isLoopback(host: ""))
    }

    @Test func tokenFilesOthersCanReadAreRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.path + "/token"
        try Data("0123456789abcdef0123\n".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o604)
        #expect(throws: ServiceStartError.self) { _ = try BearerToken.load(path: path) }
        chmod(path, 0o640)
        let token = try BearerToken.load(path: path)
        #expect(token.accepts(authorization: "Bearer 0123456789abcdef0123"))
        try Data("short\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ServiceStartError.self) { _ = try BearerToken.load(path: path) }
    }
}
