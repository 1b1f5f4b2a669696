import ArgumentParser
import Configuration
import Testing
@testable import WorkerCLI

@Suite struct RunCommandTests {
    @Test func integrationServiceLists() throws {
        #expect(try RunCommand.parseServices("all") == IntegrationServices())
        #expect(
            try RunCommand.parseServices("none")
                == IntegrationServices(heartbeat: false, shutdown: false, timeSync: false, keyValueExchange: false))
        #expect(
            try RunCommand.parseServices("heartbeat, KVP")
                == IntegrationServices(heartbeat: true, shutdown: false, timeSync: false, keyValueExchange: true))
        #expect(throws: ValidationError.self) { try RunCommand.parseServices("heartbeat,vss") }
    }

    @Test func flagsBuildTheConfiguration() throws {
        let command = try RunCommand.parse([
            "--kernel", "/k", "--initrd", "/i", "--memory", "256", "--cpus", "2", "--no-hyper-v",
            "--integration-services", "shutdown", "--host-profile", "off",
        ])
        let c = try command.vmConfiguration()
        #expect(c.memoryMiB == 256 && c.cpus == 2 && c.boot.initrd == "/i")
        #expect(c.hyperV == false && c.hostProfile == .off)
        #expect(c.integrationServices == IntegrationServices(heartbeat: false, shutdown: true, timeSync: false, keyValueExchange: false))
    }

    @Test func nicSpecsBecomeNetworkAdapters() throws {
        let c = try RunCommand.parse(["--kernel", "/k", "--nic", "tap=tap0", "--nic", "mac=00:15:5d:00:00:02,tap=tap1"])
            .vmConfiguration()
        #expect(c.networkAdapters == [
            NetworkAdapterConfiguration(tap: "tap0"), NetworkAdapterConfiguration(tap: "tap1", macAddress: "00:15:5d:00:00:02"),
        ])
        for bad in ["tap0", "tap=", "tap=t,speed=10", "tap=t,mac=01:00:5e:00:00:01", "tap=t,mac=zz", "tap=abcdefghijklmnop"] {
            #expect(throws: (any Error).self, "\(bad)") { try RunCommand.parse(["--kernel", "/k", "--nic", bad]) }
        }
    }

    @Test func diskOptionsAddToTheConfiguration() throws {
        #expect(try RunCommand.parseDisk("a.img") == DiskAttachment(path: "a.img"))
        #expect(try RunCommand.parseDisk("/v/b.vhdx,ro,lun=5") == DiskAttachment(path: "/v/b.vhdx", lun: 5, readOnly: true))
        #expect(throws: ValidationError.self) { try RunCommand.parseDisk("a.img,rw") }
        #expect(throws: ValidationError.self) { try RunCommand.parseDisk("a.img,lun=64") }
        #expect(throws: ValidationError.self) { try RunCommand.parseDisk(",ro") }
        let c = try RunCommand.parse(["--kernel", "/k", "--disk", "root.vhdx", "--disk", "data.img,ro,lun=2"]).vmConfiguration()
        #expect(c.disks == [DiskAttachment(path: "root.vhdx"), DiskAttachment(path: "data.img", lun: 2, readOnly: true)])
        #expect(c.assignedLUNs() == [0, 2])
        #expect(throws: (any Error).self) { try RunCommand.parse(["--kernel", "/k", "--disk", "x.img,lun=a"]) }
    }

    @Test func badInputIsRefused() {
        #expect(throws: (any Error).self) { try RunCommand.parse([]) }
        #expect(throws: (any Error).self) { try RunCommand.parse(["--kernel", "/k", "--config", "/c"]) }
        #expect(throws: (any Error).self) { try RunCommand.parse(["--kernel", "/k", "--host-profile", "fast"]) }
    }
}

@Suite struct ResetActionTests {
    @Test func onResetDefaultsToExitAndParsesRestart() throws {
        #expect(try RunCommand.parse(["--kernel", "/k"]).onReset == .exit)
        #expect(try RunCommand.parse(["--kernel", "/k", "--on-reset", "restart"]).onReset == .restart)
        #expect(throws: (any Error).self) { try RunCommand.parse(["--kernel", "/k", "--on-reset", "reboot"]) }
    }
}
