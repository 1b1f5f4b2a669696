import Configuration
import Foundation
import GuestMemory
import HyperV
import Synchronization
import SyntheticDevices
import Testing
import VMBus

@testable import VMM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The worker's hot-plug bookkeeping without a guest: what gets offered, locked, closed and
/// refused. (The guest's side is HotplugGuestTests and VMBusTests.HotplugTests.)
@Suite struct LiveDevicesTests {
    /// A SynIC that counts what the host posts.
    final class CountingPort: SynICMessagePort {
        let messages = Mutex<[UInt32]>([])
        func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
            let type = payload.count >= 4 ? UInt32(payload[0]) | UInt32(payload[1]) << 8 : 0
            messages.withLock { $0.append(type) }
        }
        func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {}
    }

    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("live-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func image(_ dir: String, _ name: String) -> String {
        let path = dir + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(count: 1 << 20))
        return path
    }

    static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0
    }

    func devices(_ host: VMBusHost?, disks: [DiskAttachment] = []) throws -> LiveDevices {
        var c = VMConfiguration(name: "live", boot: BootSource(kernel: "/nonexistent/vmlinux"))
        c.disks = disks
        let attached = try AttachedDisks.open(c)
        let id = GUID(wireBytes: [UInt8](repeating: 7, count: 16))
        // As HyperVStack does at start: a controller only when there are disks.
        var storage: StorageController?
        if let host, !attached.disks.isEmpty {
            let controller = StorageController(instanceID: id, disks: attached.disks)
            try host.addDevice(controller)
            storage = controller
        }
        return LiveDevices(
            vmbus: host, vmName: "live", storageInstanceID: id, storage: storage, disks: attached, configuration: c,
            adapters: [], logger: .init(label: "test"))
    }

    @Test func firstDiskOffersTheControllerAndRemovalUnlocks() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = CountingPort()
        let host = VMBusHost(memory: GuestMemory.heapBacked(size: 1 << 20), port: port)
        let live = try devices(host)
        #expect(live.storage == nil)
        let a = image(dir, "a.img"), b = image(dir, "b.img")
        #expect(!live.changedSinceStart)
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: dir + "/missing.img")) }
        #expect(!live.changedSinceStart, "a refused add counts as a change")
        #expect(try live.addDisk(DiskAttachment(path: a)) == 0)
        #expect(live.changedSinceStart, "Save-VM must know the devices changed")
        let controller = try #require(live.storage)
        #expect(host.relID(of: controller) != nil, "the controller was not registered")
        #expect(Self.isLocked(a))
        #expect(try live.addDisk(DiskAttachment(path: b, lun: 5)) == 5)
        #expect(controller.disks.keys.sorted() == [0, 5])
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: a)) }
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: image(dir, "c.img"), lun: 5)) }
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: dir + "/missing.img")) }

        try live.removeDisk(lun: 0)
        #expect(!Self.isLocked(a), "the removed image is still locked")
        #expect(controller.disks.keys.sorted() == [5])
        #expect(live.diskAttachments[5]?.path == b)
        #expect(throws: HotplugError.self) { try live.removeDisk(lun: 0) }
        live.close()
        #expect(!Self.isLocked(b), "close did not unlock the remaining image")
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: a)) }
    }

    @Test func startTimeDisksCanBeRemoved() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = image(dir, "a.img")
        let host = VMBusHost(memory: GuestMemory.heapBacked(size: 1 << 20), port: CountingPort())
        let live = try devices(host, disks: [DiskAttachment(path: a)])
        #expect(Self.isLocked(a))
        #expect(!live.changedSinceStart)
        try live.removeDisk(lun: 0)
        #expect(live.changedSinceStart)
        #expect(!Self.isLocked(a))
    }

    @Test func adaptersNeedATAPAndRemovalNeedsAnAddress() throws {
        let host = VMBusHost(memory: GuestMemory.heapBacked(size: 1 << 20), port: CountingPort())
        let live = try devices(host)
        // An interface name the kernel refuses (over IFNAMSIZ): a clear error, nothing offered.
        do {
            try live.addNetworkAdapter(NetworkAdapterConfiguration(tap: String(repeating: "x", count: 40)))
            Issue.record("a TAP with an impossible name was opened")
        } catch {
            #expect(error.description.contains("TAP"), "\(error)")
        }
        #expect(live.networkAdapters.isEmpty)
        let mac = try #require(MACAddress("00:15:5d:00:00:01"))
        #expect(throws: HotplugError.self) { try live.removeNetworkAdapter(mac: mac) }
    }

    @Test func withoutHyperVNothingIsHotPlugged() throws {
        let live = try devices(nil)
        #expect(throws: HotplugError.self) { try live.addDisk(DiskAttachment(path: "/tmp/x.img")) }
        #expect(throws: HotplugError.self) { try live.addNetworkAdapter(NetworkAdapterConfiguration(tap: "t0")) }
    }
}
