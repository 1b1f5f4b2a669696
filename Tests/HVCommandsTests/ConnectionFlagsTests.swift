import ArgumentParser
import Foundation
import HVClient
import Testing

@testable import HVCommands

/// `--socket` / `--host` / `--token-file` / `--ca-certificate` (the TLS itself is tested against a
/// real hvd in ManagementServiceTests' RemoteAccessTests).
@Suite struct ConnectionFlagsTests {
    @Test func socketAndHostExcludeEachOther() {
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "list", "--socket", "/tmp/s", "--host", "https://h:1"]) }
    }

    @Test func hostNeedsATokenFile() throws {
        let connection = try Flags.Connection.parse(["--host", "https://127.0.0.1:8443"])
        guard ProcessInfo.processInfo.environment["HV_TOKEN_FILE"] == nil else { return }
        #expect(throws: HVClientError.self) { _ = try connection.makeClient() }
    }

    @Test func tokenFileAloneIsAUsageError() {
        guard ProcessInfo.processInfo.environment["HV_HOST"] == nil else { return }
        #expect(throws: (any Error).self) { _ = try Flags.Connection.parse(["--token-file", "/tmp/t"]) }
    }

    @Test func hostURLsAreChecked() throws {
        let token = FileManager.default.temporaryDirectory.appendingPathComponent("hv-flags-token-\(getpid())")
        try Data("0123456789abcdef\n".utf8).write(to: token)
        defer { try? FileManager.default.removeItem(at: token) }
        for bad in ["127.0.0.1:8443", "ftp://h:1", "https://", "https://h:1/v1/vms", "https://h:99999"] {
            #expect(throws: HVClientError.self, "\(bad)") { _ = try RemoteEndpoint(url: bad, tokenFile: token.path, caCertificate: nil) }
        }
        let endpoint = try RemoteEndpoint(url: "https://[::1]:8443", tokenFile: token.path, caCertificate: nil)
        #expect(endpoint.host == "::1")
        #expect(endpoint.port == 8443)
        #expect(endpoint.url == "https://[::1]:8443")
        #expect(try RemoteEndpoint(url: "https://vmhost.example", tokenFile: token.path, caCertificate: nil).port == 443)
        #expect(throws: HVClientError.self) { _ = try RemoteEndpoint(url: "https://h:1", tokenFile: token.path + "-missing", caCertificate: nil) }
        #expect(throws: HVClientError.self) { _ = try RemoteEndpoint(url: "https://h:1", tokenFile: token.path, caCertificate: "/nonexistent.pem") }
    }
}
