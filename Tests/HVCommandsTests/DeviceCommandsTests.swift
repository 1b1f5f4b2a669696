import ArgumentParser
import Configuration
import Foundation
import HVClient
import Testing

@testable import HVCommands

@Suite struct DeviceSpecTests {
    @Test func diskSpecs() throws {
        #expect(try DeviceSpec.disk("/i/a.vhdx") == DiskAttachment(path: "/i/a.vhdx"))
        #expect(try DeviceSpec.disk("/i/a.vhdx,ro") == DiskAttachment(path: "/i/a.vhdx", readOnly: true))
        #expect(try DeviceSpec.disk("/i/a.img,lun=3,ro") == DiskAttachment(path: "/i/a.img", lun: 3, readOnly: true))
        #expect(try DeviceSpec.disk("/i/a,b.img,lun=63") == DiskAttachment(path: "/i/a,b.img", lun: 63), "a comma inside the path")
        let relative = try DeviceSpec.disk("data.img,ro")
        #expect(relative.path == FileManager.default.currentDirectoryPath + "/data.img" && relative.readOnly)
        for bad in ["", ",ro", "/a,lun=64", "/a,lun=x", "/a,lun=-1"] {
            #expect(throws: ValidationError.self, "\(bad)") { _ = try DeviceSpec.disk(bad) }
        }
    }

    @Test func nicSpecs() throws {
        #expect(try DeviceSpec.nic("tap=tap0") == NetworkAdapterConfiguration(tap: "tap0"))
        #expect(try DeviceSpec.nic("tap0") == NetworkAdapterConfiguration(tap: "tap0"))
        #expect(try DeviceSpec.nic("tap=t1,mac=02:00:00:00:00:01") == NetworkAdapterConfiguration(tap: "t1", macAddress: "02:00:00:00:00:01"))
        #expect(try DeviceSpec.nic("mac=02:00:00:00:00:01,tap=t1").tap == "t1")
        for bad in ["", "mac=02:00:00:00:00:01", "tap=", "tap=t,mac=zz", "tap=t,colour=red"] {
            #expect(throws: ValidationError.self, "\(bad)") { _ = try DeviceSpec.nic(bad) }
        }
    }

    @Test func createCarriesRepeatedDevices() throws {
        let create = try #require(
            try HVCommand.parseAsRoot([
                "vm", "create", "web", "--kernel", "/k", "--disk", "/i/os.vhdx", "--disk", "/i/data.img,ro,lun=2",
                "--nic", "tap=tap0", "--nic", "tap=tap1,mac=02:00:00:00:00:02",
            ]) as? VMCreate)
        let request = try create.request()
        #expect(request.disks == [DiskAttachment(path: "/i/os.vhdx"), DiskAttachment(path: "/i/data.img", lun: 2, readOnly: true)])
        #expect(request.networkAdapters == [NetworkAdapterConfiguration(tap: "tap0"), NetworkAdapterConfiguration(tap: "tap1", macAddress: "02:00:00:00:00:02")])
        // No device flags: the request leaves the lists out.
        let plain = try #require(try HVCommand.parseAsRoot(["vm", "create", "web", "--kernel", "/k"]) as? VMCreate)
        #expect(try plain.request().disks == nil && plain.request().networkAdapters == nil)
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "create", "w", "--kernel", "/k", "--disk", "/a,lun=99"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "create", "w", "--kernel", "/k", "--nic", "mac=zz"]) }
    }

    @Test func deviceVerbsParse() throws {
        let add = try #require(try HVCommand.parseAsRoot(["vm", "disk", "add", "web", "d.img", "--ro", "--lun", "4"]) as? VMDiskAdd)
        #expect(add.vm == "web" && add.path == "d.img" && add.readOnly && add.lun == 4)
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "disk", "add", "web", "d.img", "--lun", "64"]) }
        let remove = try #require(try HVCommand.parseAsRoot(["vm", "disk", "rm", "web", "1", "2"]) as? VMDiskRemove)
        #expect(remove.luns == [1, 2])
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "disk", "remove", "web", "x"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "disk", "remove", "web", "64"]) }
        let nic = try #require(try HVCommand.parseAsRoot(["vm", "nic", "add", "web", "--tap", "tap0", "--mac", "02:00:00:00:00:01"]) as? VMNicAdd)
        #expect(nic.tap == "tap0" && nic.mac == "02:00:00:00:00:01")
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "nic", "add", "web", "--tap", "t", "--mac", "nope"]) }
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "nic", "add", "web"]) }  // --tap missing
        #expect(throws: (any Error).self) { _ = try HVCommand.parseAsRoot(["vm", "nic", "remove", "web", "0", "1"]) }  // indexes move
        _ = try HVCommand.parseAsRoot(["vm", "nic", "remove", "web", "02:00:00:00:00:01", "02:00:00:00:00:02"])
    }
}

@Suite struct DeviceOutputTests {
    static let disks = [
        VMDiskInfo(lun: 0, path: "/i/os.vhdx", readOnly: false, format: "vhdx", virtualSizeBytes: 10 << 30),
        VMDiskInfo(lun: 12, path: "/i/seed.img", readOnly: true, format: "raw", virtualSizeBytes: 1_572_864),
    ]

    @Test func tables() {
        #expect(
            diskTable(Self.disks).render()
                == "LUN  FORMAT  SIZE     RO   PATH\n0    vhdx    10 GiB   no   /i/os.vhdx\n12   raw     1.5 MiB  yes  /i/seed.img")
        #expect(
            adapterTable([VMNetworkAdapterInfo(index: 0, tap: "tap0", macAddress: "00:15:5d:01:02:03")]).render()
                == "INDEX  MAC                TAP\n0      00:15:5d:01:02:03  tap0")
        #expect(byteCount(512) == "512 B" && byteCount(64 << 20) == "64 MiB")
    }

    @Test func showListsDisksAndAdapters() {
        var configuration = VMConfiguration(name: "web", boot: BootSource(kernel: "/k"))
        configuration.disks = [DiskAttachment(path: "/i/os.vhdx", lun: 0), DiskAttachment(path: "/i/seed.img", lun: 12, readOnly: true)]
        configuration.networkAdapters = [NetworkAdapterConfiguration(tap: "tap0")]
        let vm = VMInfo(
            id: "id", name: "web", state: .off, stateReason: nil, createdAt: "t", configuration: configuration, automaticStartAction: .nothing,
            automaticStopAction: .shutDown, recoveryAction: .none, workerPID: nil)
        let text = describe(vm, disks: Self.disks)
        #expect(text.contains("Disks:\n  LUN  FORMAT  SIZE     RO   PATH\n  0    vhdx    10 GiB   no   /i/os.vhdx"), "\(text)")
        let derived = MACAddress.derived(vmName: "web", adapterIndex: 0).description
        #expect(text.contains("Network adapters:\n  INDEX  MAC                TAP\n  0      \(derived)  tap0"), "\(text)")
        // Without the disks resource (an older hvd), the configuration still lists them.
        #expect(describe(vm).contains("  12   ?       ?     yes  /i/seed.img"), "\(describe(vm))")
        var bare = vm
        bare.configuration.disks = []
        bare.configuration.networkAdapters = []
        #expect(describe(bare).hasSuffix("Disks:           none\nNetwork adapters: none"))
    }
}

@Suite struct DeviceCommandsAgainstStubTests {
    static let disk = #"{"lun":0,"path":"/i/os.vhdx","readOnly":false,"format":"vhdx","virtualSizeBytes":1073741824}"#
    static let nic = #"{"index":0,"tap":"tap0","macAddress":"00:15:5d:01:02:03"}"#

    @Test func verbsCallTheirResources() throws {
        let stub = try StubServer(routes: [
            "GET /v1/vms/web/disks": (200, "[\(Self.disk)]"),
            "POST /v1/vms/web/disks": (201, Self.disk),
            "DELETE /v1/vms/web/disks/0": (204, ""),
            "GET /v1/vms/web/network-adapters": (200, "[\(Self.nic)]"),
            "POST /v1/vms/web/network-adapters": (201, Self.nic),
            "DELETE /v1/vms/web/network-adapters/00:15:5d:01:02:03": (204, ""),
            "POST /v1/vms/busy/disks": (409, #"{"error":"invalid_state","message":"cannot attach a disk to busy: it is Running","hint":"stop the VM first"}"#),
        ])
        let client = HVClient(socketPath: stub.path)
        #expect(try client.disks("web").first?.virtualSizeBytes == 1 << 30)
        #expect(try client.addDisk("web", DiskAttachment(path: "/i/os.vhdx")).lun == 0)
        try client.removeDisk("web", lun: 0)
        #expect(try client.networkAdapters("web") == [VMNetworkAdapterInfo(index: 0, tap: "tap0", macAddress: "00:15:5d:01:02:03")])
        try client.removeNetworkAdapter("web", "00:15:5d:01:02:03")
        for arguments in [
            ["vm", "disk", "list", "web"], ["vm", "disk", "list", "--json", "web"], ["vm", "disk", "add", "web", "/i/os.vhdx"],
            ["vm", "disk", "remove", "web", "0"], ["vm", "nic", "list", "web"], ["vm", "nic", "add", "web", "--tap", "tap0"],
            ["vm", "nic", "remove", "web", "00:15:5d:01:02:03"],
        ] {
            var command = try HVCommand.parseAsRoot(arguments + ["--socket", stub.path])
            try command.run()
        }
        var busy = try HVCommand.parseAsRoot(["vm", "disk", "add", "busy", "/i/os.vhdx", "--socket", stub.path])
        #expect(throws: ExitCode(4)) { try busy.run() }
        var missing = try HVCommand.parseAsRoot(["vm", "nic", "list", "nope", "--socket", stub.path])
        #expect(throws: ExitCode(3)) { try missing.run() }
    }
}
