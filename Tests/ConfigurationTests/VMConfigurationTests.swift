import Foundation
import Testing
@testable import Configuration

@Suite struct VMConfigurationTests {
    @Test func decodesMinimalFileWithDefaults() throws {
        let json = #"{"name":"t","boot":{"kernel":"/k","cmdline":"console=ttyS0"}}"#
        let c = try JSONDecoder().decode(VMConfiguration.self, from: Data(json.utf8))
        #expect(c.version == VMConfiguration.currentVersion)
        #expect(c.memoryMiB == 128 && c.cpus == 1)
        #expect(c.integrationServices == IntegrationServices())
        #expect(c.hostProfile == .automatic)
        #expect(c.validationErrors().isEmpty)
    }

    @Test func roundTrips() throws {
        var c = VMConfiguration(name: "vm", memoryMiB: 256, cpus: 2, boot: BootSource(kernel: "/k", initrd: "/i"))
        c.integrationServices.keyValueExchange = false
        let back = try JSONDecoder().decode(VMConfiguration.self, from: JSONEncoder().encode(c))
        #expect(back == c)
    }

    @Test func validationNamesEachProblem() {
        var c = VMConfiguration(name: "", memoryMiB: 1, cpus: 0, boot: BootSource(kernel: ""))
        c.version = 99
        let fields = Set(c.validationErrors().map(\.field))
        #expect(fields == ["version", "name", "memoryMiB", "cpus", "boot.kernel"])
    }
}
