import Foundation
import Testing
@testable import Configuration

@Suite struct DeviceConfigurationTests {
    private func config(disks: [DiskAttachment] = [], nics: [NetworkAdapterConfiguration] = []) -> VMConfiguration {
        VMConfiguration(name: "vm", boot: BootSource(kernel: "/k"), disks: disks, networkAdapters: nics)
    }

    @Test func olderFilesWithoutDevicesStillLoad() throws {
        let json = #"{"name":"t","boot":{"kernel":"/k","cmdline":""}}"#
        let c = try JSONDecoder().decode(VMConfiguration.self, from: Data(json.utf8))
        #expect(c.disks.isEmpty && c.networkAdapters.isEmpty)
    }

    @Test func devicesRoundTrip() throws {
        let c = config(disks: [.init(path: "/d.vhdx", lun: 3, readOnly: true)], nics: [.init(tap: "tap0", macAddress: "00:15:5d:00:00:01")])
        let back = try JSONDecoder().decode(VMConfiguration.self, from: JSONEncoder().encode(c))
        #expect(back == c)
        let minimal = try JSONDecoder().decode(DiskAttachment.self, from: Data(#"{"path":"/x"}"#.utf8))
        #expect(minimal == DiskAttachment(path: "/x"))
    }

    @Test func freeLUNsAreAssignedAroundFixedOnes() {
        let c = config(disks: [.init(path: "/a"), .init(path: "/b", lun: 0), .init(path: "/c")])
        #expect(c.assignedLUNs() == [1, 0, 2])
        #expect(c.validationErrors().isEmpty)
    }

    @Test func badDevicesAreNamed() {
        let c = config(
            disks: [.init(path: "/a", lun: 1), .init(path: "/a", lun: 1), .init(path: "/b", lun: 64), .init(path: "")],
            nics: [.init(tap: "tap0", macAddress: "01:00:5e:00:00:01"), .init(tap: "tap0"), .init(tap: "a-very-long-tap-name"), .init(tap: "t", macAddress: "zz")])
        let fields = c.validationErrors().map(\.field)
        #expect(fields == [
            "disks[1].path", "disks[1].lun", "disks[2].lun", "disks[3].path",
            "networkAdapters[0].macAddress", "networkAdapters[1].tap", "networkAdapters[2].tap", "networkAdapters[3].macAddress",
        ])
    }

    @Test func namesTheKernelOrAConsoleWouldChokeOnAreRefused() {
        let c = config(disks: [.init(path: "/a\u{1B}[2J.img")], nics: [.init(tap: "tap:1"), .init(tap: "t\u{7}")])
        #expect(c.validationErrors().map(\.field) == ["disks[0].path", "networkAdapters[0].tap", "networkAdapters[1].tap"])
    }

    @Test func macAddressesParseAndDeriveStably() {
        #expect(MACAddress("00:15:5D:0a:0B:ff")?.description == "00:15:5d:0a:0b:ff")
        #expect(MACAddress("00:15:5d:0a:0b") == nil)
        #expect(MACAddress("00:15:5d:0a:0b:fff") == nil)
        let a = MACAddress.derived(vmName: "web", adapterIndex: 0)
        #expect(a == MACAddress.derived(vmName: "web", adapterIndex: 0))
        #expect(a != MACAddress.derived(vmName: "web", adapterIndex: 1))
        #expect(a.bytes.prefix(3) == [0x00, 0x15, 0x5D] && a.isUnicast)
        #expect(NetworkAdapterConfiguration(tap: "t").effectiveMACAddress(vmName: "web", index: 0) == a)
    }
}
