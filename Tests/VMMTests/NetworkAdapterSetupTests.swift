import Configuration
import SyntheticDevices
import Testing
@testable import VMM

@Suite struct NetworkAdapterSetupTests {
    @Test func anUnopenableTAPNamesTheFix() {
        // '/' is never valid in an interface name, so this fails as root too (EINVAL), and
        // without root at /dev/net/tun (EACCES): either way the error says what to run.
        let configuration = VMConfiguration(
            name: "vm", memoryMiB: 64, cpus: 1, boot: BootSource(kernel: "/k", initrd: nil, cmdline: ""),
            networkAdapters: [NetworkAdapterConfiguration(tap: "bad/tap")])
        #expect {
            _ = try NetworkAdapterSetup.open(configuration)
        } throws: { error in
            let text = "\(error)"
            return text.contains("cannot open TAP interface bad/tap") && text.contains("ip tuntap add dev bad/tap mode tap user $USER")
        }
    }

    @Test func instanceIDsAreStableAndDistinct() throws {
        let mac = try #require(MACAddress("00:15:5d:00:00:01"))
        let setup = NetworkAdapterSetup(macAddress: mac, backend: InMemoryPacketBackend())
        #expect(setup.instanceID(index: 0) == setup.instanceID(index: 0))
        #expect(setup.instanceID(index: 0) != setup.instanceID(index: 1))
    }
}
