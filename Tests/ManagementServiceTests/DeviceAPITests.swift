import Configuration
import Foundation
import HVClient
import Synchronization
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Disks and network adapters through the REST API, against a real `hvd` (no VM runs: no KVM).
@Suite(.serialized) struct DeviceAPITests {
    /// A raw image of `size` bytes in hvd's images directory.
    static func rawImage(_ hvd: HVDProcess, _ name: String, size: Int = 1 << 20) throws -> String {
        let path = hvd.imagesDirectory + "/" + name
        FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
        return path
    }

    /// A dynamic VHDX made by `hv-worker disk create` (the same code `hv disk create` runs), or
    /// a differencing one on `parent`.
    static func vhdxImage(_ hvd: HVDProcess, _ name: String, size: String, parent: String? = nil, directory: String? = nil) throws -> String {
        let path = (directory ?? hvd.imagesDirectory) + "/" + name
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.worker)
        process.arguments = ["disk", "create", "--format", "vhdx"] + (parent.map { ["--type", "differencing", "--parent", $0] } ?? ["--size", size]) + [path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "hv-worker disk create failed")
        return path
    }

    static var canRun: Bool {
        guard TestEnvironment.canRunHVD else { return false }
        if !FileManager.default.isExecutableFile(atPath: TestEnvironment.worker) {
            print("DeviceAPITests SKIPPED: hv-worker is not built at \(TestEnvironment.worker) (it makes the VHDX fixtures)")
            return false
        }
        return true
    }

    @Test(.enabled(if: canRun)) func addListGetRemoveDisksAndAdapters() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let raw = try Self.rawImage(hvd, "data.img", size: 3 << 20)
        let vhdx = try Self.vhdxImage(hvd, "system.vhdx", size: "64M")
        _ = try client.createVM(CreateVMRequest(name: "web", boot: BootRequest(kernel: try hvd.fakeKernel())))

        let first = try client.addDisk("web", DiskAttachment(path: vhdx))
        #expect(first == VMDiskInfo(lun: 0, path: vhdx, readOnly: false, format: "vhdx", virtualSizeBytes: 64 << 20))
        let second = try client.addDisk("web", DiskAttachment(path: raw, lun: 5, readOnly: true))
        #expect(second == VMDiskInfo(lun: 5, path: raw, readOnly: true, format: "raw", virtualSizeBytes: 3 << 20))
        #expect(try client.disks("web").map(\.lun) == [0, 5])
        #expect(try client.disk("web", lun: 5) == second)

        let nic = try client.addNetworkAdapter("web", NetworkAdapterConfiguration(tap: "tap-web0"))
        #expect(nic.index == 0 && nic.tap == "tap-web0")
        #expect(nic.macAddress == MACAddress.derived(vmName: "web", adapterIndex: 0).description, "the derived MAC is shown")
        let fixed = try client.addNetworkAdapter("web", NetworkAdapterConfiguration(tap: "tap-web1", macAddress: "02:00:00:00:00:01"))
        #expect(fixed == VMNetworkAdapterInfo(index: 1, tap: "tap-web1", macAddress: "02:00:00:00:00:01"))
        #expect(try client.networkAdapter("web", "1") == fixed)
        #expect(try client.networkAdapter("web", "02:00:00:00:00:01") == fixed)
        #expect(try client.networkAdapters("web").count == 2)

        // The stored configuration pins what the worker would derive, so removals move nothing.
        let configuration = try client.vm("web").configuration
        #expect(configuration.disks.map(\.lun) == [0, 5])
        #expect(configuration.networkAdapters.map(\.macAddress) == [nic.macAddress, "02:00:00:00:00:01"])

        try client.removeDisk("web", lun: 0)
        #expect(try client.disks("web") == [second])
        try client.removeNetworkAdapter("web", nic.macAddress)
        #expect(try client.networkAdapters("web") == [VMNetworkAdapterInfo(index: 0, tap: "tap-web1", macAddress: "02:00:00:00:00:01")])
        try client.removeNetworkAdapter("web", "0")
        #expect(try client.networkAdapters("web").isEmpty)
        // A new disk takes the lowest free LUN again.
        #expect(try client.addDisk("web", DiskAttachment(path: vhdx)).lun == 0)

        let events = try client.events(vm: "web").filter { $0.kind.hasPrefix("device") }
        #expect(events.map(\.kind) == ["deviceAdded", "deviceAdded", "deviceAdded", "deviceAdded", "deviceRemoved", "deviceRemoved", "deviceRemoved", "deviceAdded"])
        #expect(events.first?.message.contains("LUN 0: \(vhdx) (vhdx, 64 MiB)") == true, "\(events.first?.message ?? "")")
        // The image files are untouched by a detach.
        #expect(FileManager.default.fileExists(atPath: raw))
    }

    @Test(.enabled(if: canRun)) func createAndPatchCarryDevices() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let a = try Self.rawImage(hvd, "a.img")
        let b = try Self.rawImage(hvd, "b.img")
        let created = try client.createVM(
            CreateVMRequest(
                name: "db", boot: BootRequest(kernel: try hvd.fakeKernel()), disks: [DiskAttachment(path: a), DiskAttachment(path: b, lun: 0)],
                networkAdapters: [NetworkAdapterConfiguration(tap: "tap-db")]))
        #expect(created.configuration.disks.map(\.lun) == [1, 0])
        #expect(created.configuration.networkAdapters.first?.macAddress == MACAddress.derived(vmName: "db", adapterIndex: 0).description)
        #expect(try client.events(vm: "db").map(\.kind) == ["created", "deviceAdded", "deviceAdded", "deviceAdded"])
        let patched = try client.updateVM("db", UpdateVMRequest(disks: [DiskAttachment(path: a, lun: 1)], networkAdapters: []))
        #expect(patched.configuration.disks == [DiskAttachment(path: a, lun: 1)])
        #expect(patched.configuration.networkAdapters.isEmpty)
        #expect(try client.events(vm: "db").suffix(3).map(\.kind) == ["updated", "deviceRemoved", "deviceRemoved"])
    }

    /// Every refusal is a 4xx with a message, and changes nothing (configuration and event log).
    @Test(.enabled(if: canRun)) func badDevicesAreRefusedAndChangeNothing() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let kernel = try hvd.fakeKernel()
        let shared = try Self.rawImage(hvd, "shared.img")
        let mine = try Self.rawImage(hvd, "mine.img")
        let spare = try Self.rawImage(hvd, "spare.img")
        let fakeVHDX = hvd.imagesDirectory + "/broken.vhdx"
        try Data("vhdxfile and then nothing sensible".utf8).write(to: URL(fileURLWithPath: fakeVHDX))
        try FileManager.default.createDirectory(atPath: hvd.imagesDirectory + "/adir", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: hvd.imagesDirectory + "/alias.img", withDestinationPath: mine)
        let readOnlyImage = try Self.rawImage(hvd, "readonly.img")
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: readOnlyImage)
        _ = try client.createVM(
            CreateVMRequest(
                name: "other", boot: BootRequest(kernel: kernel), disks: [DiskAttachment(path: shared)],
                networkAdapters: [NetworkAdapterConfiguration(tap: "tap-other", macAddress: "02:00:00:00:00:aa")]))
        _ = try client.createVM(
            CreateVMRequest(
                name: "web", boot: BootRequest(kernel: kernel), disks: [DiskAttachment(path: mine, lun: 2)],
                networkAdapters: [NetworkAdapterConfiguration(tap: "tap-web")]))
        let before = try client.listVMs()
        let eventsBefore = try client.events().count
        let disks = "/v1/vms/web/disks"
        let nics = "/v1/vms/web/network-adapters"
        let isRoot = getuid() == 0
        var cases: [(String, String, String?, Int, String)] = [
            ("POST", disks, #"{"path":"relative.img"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"/etc/passwd"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(hvd.imagesDirectory)/missing.img"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(hvd.imagesDirectory)/adir"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(fakeVHDX)"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)","lun":64}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)","lun":-1}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)","colour":"red"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"lun":3}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)","lun":2}"#, 409, "conflict"),
            ("POST", disks, #"{"path":"\#(mine)"}"#, 409, "conflict"),
            ("POST", disks, #"{"path":"\#(hvd.imagesDirectory)/alias.img"}"#, 409, "conflict"),
            ("POST", disks, #"{"path":"\#(shared)"}"#, 409, "conflict"),
            ("POST", disks, #"{"path":"\#(shared)","readOnly":true}"#, 409, "conflict"),
            ("POST", nics, #"{"tap":"tap-other"}"#, 409, "conflict"),
            ("POST", nics, #"{"tap":"tap-web"}"#, 409, "conflict"),
            ("POST", nics, #"{"tap":"tap-new","macAddress":"02:00:00:00:00:AA"}"#, 409, "conflict"),
            ("POST", nics, #"{"tap":"tap-new","macAddress":"01:00:00:00:00:01"}"#, 400, "invalid_request"),
            ("POST", nics, #"{"tap":"tap-new","macAddress":"zz"}"#, 400, "invalid_request"),
            ("POST", nics, #"{"tap":"a-name-longer-than-15"}"#, 400, "invalid_request"),
            ("POST", nics, #"{"tap":"has/slash"}"#, 400, "invalid_request"),
            ("POST", nics, "{}", 400, "invalid_request"),
            ("POST", nics, #"{"tap":"tap:1"}"#, 400, "invalid_request"),
            ("POST", nics, #"{"tap":"tap\u0000x"}"#, 400, "invalid_request"),
            ("POST", nics, #"{"tap":"tap\nx"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)\u0000"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(hvd.imagesDirectory)/../images/spare.img\n"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"/\#(String(repeating: "a/", count: 60_000))"}"#, 400, "invalid_request"),
            ("POST", disks, #"{"path":"\#(spare)","readOnly":"yes"}"#, 400, "invalid_request"),
            ("POST", disks, "[]", 400, "invalid_request"),
            ("GET", disks + "/7", nil, 404, "not_found"),
            ("GET", disks + "/x", nil, 400, "invalid_request"),
            ("DELETE", disks + "/7", nil, 404, "not_found"),
            ("DELETE", disks + "/999", nil, 400, "invalid_request"),
            ("GET", nics + "/3", nil, 404, "not_found"),
            ("GET", nics + "/02:00:00:00:00:99", nil, 404, "not_found"),
            ("DELETE", nics + "/nope", nil, 400, "invalid_request"),
            ("PUT", disks, "{}", 400, "invalid_request"),
            ("PATCH", nics + "/0", "{}", 400, "invalid_request"),
            ("GET", "/v1/vms/nope/disks", nil, 404, "not_found"),
            ("POST", "/v1/vms/nope/network-adapters", #"{"tap":"t"}"#, 404, "not_found"),
            ("PATCH", "/v1/vms/web", #"{"disks":[{"path":"\#(spare)"},{"path":"\#(spare)"}]}"#, 409, "conflict"),
            ("PATCH", "/v1/vms/web", #"{"disks":[{"path":"\#(shared)"}]}"#, 409, "conflict"),
            ("PATCH", "/v1/vms/web", #"{"networkAdapters":[{"tap":"t1"},{"tap":"t1"}]}"#, 400, "invalid_request"),
            ("POST", "/v1/vms", #"{"name":"x","boot":{"kernel":"\#(kernel)"},"disks":[{"path":"\#(shared)"}]}"#, 409, "conflict"),
            ("POST", "/v1/vms", #"{"name":"x","boot":{"kernel":"\#(kernel)"},"networkAdapters":[{"tap":"tap-web"}]}"#, 409, "conflict"),
            ("POST", "/v1/vms", #"{"name":"x","boot":{"kernel":"\#(kernel)"},"disks":[{"path":"/etc/hostname"}]}"#, 400, "invalid_request"),
        ]
        // Root can write a 0444 file, so the check only means something for other users.
        if !isRoot { cases.append(("POST", disks, #"{"path":"\#(readOnlyImage)"}"#, 400, "invalid_request")) }
        for (method, path, body, status, code) in cases {
            let (got, json) = try rawRequest(hvd.socket, method: method, path: path, body: body)
            #expect(got == status, "\(method) \(path) \(body ?? "") answered \(got): \(json["message"] ?? "")")
            #expect(json["error"] as? String == code, "\(method) \(path) \(body ?? "")")
            #expect((json["message"] as? String)?.isEmpty == false, "\(method) \(path) has no message")
        }
        #expect(try client.listVMs() == before)
        #expect(try client.events().count == eventsBefore, "a refused request logged an event")
        let (_, missing) = try rawRequest(hvd.socket, method: "GET", path: disks + "/7", body: nil)
        #expect(missing["hint"] as? String == "hv vm disk list web shows its disks")

        // The conflict names the other VM; read-only on both sides may share; a read-only image attaches.
        do {
            _ = try client.addDisk("web", DiskAttachment(path: shared))
            Issue.record("an image attached to two VMs")
        } catch {
            guard case .api(409, let body) = error else { throw error }
            #expect(body.message.contains("attached to VM other"), "\(body.message)")
        }
        _ = try client.updateVM("other", UpdateVMRequest(disks: [DiskAttachment(path: shared, readOnly: true)]))
        #expect(try client.addDisk("web", DiskAttachment(path: shared, readOnly: true)).readOnly)
        #expect(try client.addDisk("web", DiskAttachment(path: readOnlyImage, readOnly: true)).format == "raw")
    }

    /// A Running VM's devices change live: the worker attaches first, then the change is
    /// stored (so the next start has it); Paused is 409 with the way out.
    @Test(.enabled(if: TestEnvironment.canBootGuests)) func hotPlugOnARunningVM() throws {
        guard let images = TestEnvironment.guestImages else { return }
        let allowed = [images.kernel, images.initramfs].map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        let hvd = try HVDProcess(extraAllowed: allowed)
        defer { hvd.terminate() }
        let client = hvd.client
        let disk = try Self.rawImage(hvd, "run.img")
        _ = try client.createVM(
            CreateVMRequest(name: "live", memoryMiB: 128, boot: BootRequest(kernel: images.kernel, initrd: images.initramfs, cmdline: TestEnvironment.cmdline)))
        _ = try client.start("live")
        defer { _ = try? client.turnOff("live") }

        // Started without disks: the first add offers the SCSI controller with the disk on it.
        let added = try client.addDisk("live", DiskAttachment(path: disk))
        #expect(added.lun == 0 && added.path == disk)
        #expect(try client.vm("live").configuration.disks == [DiskAttachment(path: disk, lun: 0)])
        // The worker holds the image now: a second VM's worker could not lock it.
        let fd = open(disk, O_RDONLY)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0, "the running worker does not hold the hot-added image")
        close(fd)
        // A missing image is refused by hvd before the worker sees it; nothing is stored.
        let (missing, _) = try rawRequest(hvd.socket, method: "POST", path: "/v1/vms/live/disks", body: #"{"path":"\#(hvd.imagesDirectory)/nope.img"}"#)
        #expect((400..<500).contains(missing))

        try client.removeDisk("live", lun: 0)
        #expect(try client.vm("live").configuration.disks.isEmpty)
        let unlocked = open(disk, O_RDONLY)
        #expect(unlocked >= 0 && flock(unlocked, LOCK_EX | LOCK_NB) == 0, "the removed image is still locked")
        close(unlocked)

        let tap = "hvapi\(Int.random(in: 1000...9999))"
        let (nicStatus, nicJSON) = try rawRequest(hvd.socket, method: "POST", path: "/v1/vms/live/network-adapters", body: #"{"tap":"\#(tap)"}"#)
        if nicStatus == 201 {
            #expect(try client.vm("live").configuration.networkAdapters.map(\.tap) == [tap])
            let (gone, _) = try rawRequest(hvd.socket, method: "DELETE", path: "/v1/vms/live/network-adapters/0", body: nil)
            #expect(gone == 204)
            #expect(try client.vm("live").configuration.networkAdapters.isEmpty)
        } else {
            // No CAP_NET_ADMIN or /dev/net/tun: the worker's clear refusal, nothing stored.
            #expect(nicStatus == 409, "\(nicJSON)")
            #expect((nicJSON["message"] as? String)?.contains("TAP") == true, "\(nicJSON)")
            #expect(try client.vm("live").configuration.networkAdapters.isEmpty)
        }

        _ = try client.pause("live")
        let before = try client.vm("live").configuration
        for (method, path, body) in [
            ("POST", "/v1/vms/live/disks", #"{"path":"\#(disk)"}"#), ("POST", "/v1/vms/live/network-adapters", #"{"tap":"tap-live"}"#),
        ] {
            let (status, json) = try rawRequest(hvd.socket, method: method, path: path, body: body)
            #expect(status == 409, "\(method) \(path)")
            #expect((json["hint"] as? String)?.contains("resume") == true, "\(json)")
        }
        #expect(try client.vm("live").configuration == before)
        _ = try client.resume("live")
    }

    /// A differencing disk's parents are exposed to the guest, so they must lie in an allowed
    /// directory too.
    @Test(.enabled(if: canRun)) func differencingDiskParentsMustBeAllowed() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        _ = try client.createVM(CreateVMRequest(name: "diff", boot: BootRequest(kernel: try hvd.fakeKernel())))
        let outsideParent = try Self.vhdxImage(hvd, "outside-parent.vhdx", size: "16M", directory: hvd.scratch.path)
        let child = try Self.vhdxImage(hvd, "child.vhdx", size: "", parent: outsideParent)
        let (status, json) = try rawRequest(hvd.socket, method: "POST", path: "/v1/vms/diff/disks", body: #"{"path":"\#(child)"}"#)
        #expect(status == 400)
        #expect((json["message"] as? String)?.contains("parent of \(child)") == true, "\(json)")
        #expect(try client.disks("diff").isEmpty)
        let insideParent = try Self.vhdxImage(hvd, "inside-parent.vhdx", size: "16M")
        let goodChild = try Self.vhdxImage(hvd, "good-child.vhdx", size: "", parent: insideParent)
        #expect(try client.addDisk("diff", DiskAttachment(path: goodChild)) == VMDiskInfo(lun: 0, path: goodChild, readOnly: false, format: "vhdx", virtualSizeBytes: 16 << 20))
    }

    /// Two VMs ask for one image (and one TAP) at the same moment: exactly one gets each.
    @Test(.enabled(if: canRun)) func concurrentAttachesOfOneImageLetOneWin() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let kernel = try hvd.fakeKernel()
        let image = try Self.rawImage(hvd, "contested.img")
        let names = (0..<6).map { "vm\($0)" }
        for name in names { _ = try client.createVM(CreateVMRequest(name: name, boot: BootRequest(kernel: kernel))) }
        let wins = Mutex<[String]>([])
        let group = DispatchGroup()
        for name in names {
            group.enter()
            Thread {
                defer { group.leave() }
                if (try? client.addDisk(name, DiskAttachment(path: image))) != nil { wins.withLock { $0.append("disk " + name) } }
                if (try? client.addNetworkAdapter(name, NetworkAdapterConfiguration(tap: "tap-shared"))) != nil {
                    wins.withLock { $0.append("nic " + name) }
                }
            }.start()
        }
        group.wait()
        let won = wins.withLock { $0 }
        #expect(won.filter { $0.hasPrefix("disk") }.count == 1, "\(won)")
        #expect(won.filter { $0.hasPrefix("nic") }.count == 1, "\(won)")
        let holders = try client.listVMs().filter { !$0.configuration.disks.isEmpty }
        #expect(holders.count == 1)
    }

    /// hvd writes the worker's config.json at start: it carries the disks and adapters.
    @Test(.enabled(if: canRun)) func workerConfigurationCarriesDevices() throws {
        let hvd = try HVDProcess()
        defer { hvd.terminate() }
        let client = hvd.client
        let image = try Self.rawImage(hvd, "boot.img")
        let vm = try client.createVM(
            CreateVMRequest(
                name: "cfg", boot: BootRequest(kernel: try hvd.fakeKernel()), disks: [DiskAttachment(path: image, readOnly: true)],
                networkAdapters: [NetworkAdapterConfiguration(tap: "tap-cfg", macAddress: "02:11:22:33:44:55")]))
        _ = try? client.start("cfg")  // the fake kernel makes the worker fail after it read the file
        let written = try Data(contentsOf: URL(fileURLWithPath: hvd.stateDirectory + "/vms/\(vm.id)/config.json"))
        let configuration = try JSONDecoder().decode(VMConfiguration.self, from: written)
        #expect(configuration.disks == [DiskAttachment(path: image, lun: 0, readOnly: true)])
        #expect(configuration.networkAdapters == [NetworkAdapterConfiguration(tap: "tap-cfg", macAddress: "02:11:22:33:44:55")])
    }
}
