import Foundation
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Acceptance of hot-add and hot-remove with the unmodified test kernel, driven over the
/// worker's control socket the way hvd drives it. The guest's user space cannot run here, so
/// its kernel log is the check: storvsc's rescan after ENUMERATE_BUS finds the new `sd` device
/// with its size, and after the removal its TEST UNIT READY fails (INVALID_LUN) and `sd`
/// removes the disk ("Synchronizing SCSI cache" for it). A network adapter on a TAP is offered
/// late and probed by hv_netvsc (its RNDIS initialization reaches the host), then rescinded and
/// released by the guest.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct HotplugGuestTests {
    @Test(.enabled(if: GuestEnvironment.canRun))
    func diskAndNetworkAdapterComeAndGoWhileTheGuestRuns() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hotplug-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = dir + "/first.img", second = dir + "/second.img"
        #expect(FileManager.default.createFile(atPath: first, contents: Data(count: 8 << 20)))
        #expect(FileManager.default.createFile(atPath: second, contents: Data(count: 16 << 20)))
        let socket = dir + "/control.sock"
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hotplug-test.log").path
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "128", "--cpus", "1", "--cmdline", TestKernelBootTests.cmdline,
                "--disk", first, "--control-socket", socket,
            ], logPath: logPath)
        defer {
            worker.signal(SIGKILL)
            _ = worker.waitForExit(timeout: 10)
        }
        let booted = worker.waitFor("Run /init as init process", timeout: 420)
            && worker.waitFor("sd 0:0:0:0: [sda] Attached SCSI disk", timeout: 120)
        #expect(booted, "the guest did not boot with its first disk; log in \(logPath)")
        guard booted else { return }
        let control = ControlClient(path: socket)

        // Hot-add LUN 1: ENUMERATE_BUS → storvsc_host_scan → REPORT LUNS → a new sd.
        let added = try control.request(#"{"version":1,"kind":"addDisk","disk":{"path":"\#(second)","lun":1,"readOnly":false}}"#)
        #expect(added.contains(#""kind":"ok""#) && added.contains(#""lun":1"#), "addDisk: \(added)")
        #expect(
            worker.waitFor("sd 0:0:0:1: [sdb] 32768 512-byte logical blocks: (16.8 MB/16.0 MiB)", timeout: 120),
            "the guest did not find the hot-added disk; log in \(logPath)")
        #expect(worker.waitFor("sd 0:0:0:1: [sdb] Attached SCSI disk", timeout: 60))
        #expect(!Self.isUnlocked(second), "the hot-added image is not locked")

        // Hot-remove it: the rescan's TEST UNIT READY gets INVALID_LUN and sd lets the disk go.
        let removed = try control.request(#"{"version":1,"kind":"removeDisk","lun":1}"#)
        #expect(removed.contains(#""kind":"ok""#), "removeDisk: \(removed)")
        #expect(
            worker.waitFor("sd 0:0:0:1: [sdb] Synchronizing SCSI cache", timeout: 120),
            "the guest did not remove the disk; log in \(logPath)")
        #expect(Self.isUnlocked(second), "the removed image is still locked")
        let unknown = try control.request(#"{"version":1,"kind":"removeDisk","lun":1}"#)
        #expect(unknown.contains(#""kind":"error""#) && unknown.contains("no disk"), "\(unknown)")
        // The first disk is untouched.
        worker.signal(SIGUSR1)
        #expect(worker.waitFor("lun 0: \(first)", timeout: 10))

        if HostNetwork.canRun {
            let tap = "hvhp\(Int.random(in: 1000...9999))"
            let mac = String(format: "00:15:5d:7e:%02x:%02x", Int.random(in: 0...255), Int.random(in: 0...255))
            try HostNetwork.createTAP(tap, address: "192.168.\(Int.random(in: 100...250)).1/24")
            defer { HostNetwork.deleteTAP(tap) }
            let nic = try control.request(#"{"version":1,"kind":"addNetworkAdapter","networkAdapter":{"tap":"\#(tap)","macAddress":"\#(mac)"}}"#)
            #expect(nic.contains(#""kind":"ok""#), "addNetworkAdapter: \(nic)")
            #expect(
                worker.waitFor("netvsc \(mac): the guest initialized RNDIS", timeout: 120),
                "hv_netvsc did not probe the hot-added adapter; log in \(logPath)")
            worker.signal(SIGUSR1)
            #expect(worker.waitFor("mac \(mac), tap \(tap)", timeout: 10), "the status report does not list the new adapter")
            let gone = try control.request(#"{"version":1,"kind":"removeNetworkAdapter","macAddress":"\#(mac)"}"#)
            #expect(gone.contains(#""kind":"ok""#) && !gone.contains("did not release"), "removeNetworkAdapter: \(gone)")
            worker.signal(SIGUSR1)
            Thread.sleep(forTimeInterval: 1)
            #expect(
                worker.text.components(separatedBy: "mac \(mac), tap \(tap)").count == 2,
                "the removed adapter is still in the status report")
            let badTAP = try control.request(#"{"version":1,"kind":"addNetworkAdapter","networkAdapter":{"tap":"\#(String(repeating: "x", count: 40))"}}"#)
            #expect(badTAP.contains(#""kind":"error""#) && badTAP.contains("TAP"), "\(badTAP)")
        } else {
            print("HotplugGuestTests: network adapter part SKIPPED (see the reason above)")
        }

        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "o")])
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 0, "worker status \(String(describing: status)) after SysRq power-off; log in \(logPath)")
    }

    /// A VM started without disks has no SCSI controller: the first hot-added disk brings one (a
    /// late VMBus offer), which storvsc probes with the disk on it.
    @Test(.enabled(if: GuestEnvironment.canRun))
    func firstDiskBringsTheController() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hotplug-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let disk = dir + "/only.img"
        #expect(FileManager.default.createFile(atPath: disk, contents: Data(count: 4 << 20)))
        let socket = dir + "/control.sock"
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-hotplug-first.log").path
        let worker = try WorkerProcess(
            arguments: [
                "run", "--kernel", GuestEnvironment.kernel ?? "", "--initrd", GuestEnvironment.initramfs ?? "",
                "--memory", "128", "--cpus", "1", "--cmdline", TestKernelBootTests.cmdline, "--control-socket", socket,
            ], logPath: logPath)
        defer {
            worker.signal(SIGKILL)
            _ = worker.waitForExit(timeout: 10)
        }
        let booted = worker.waitFor("Run /init as init process", timeout: 420)
        #expect(booted, "the guest did not boot; log in \(logPath)")
        guard booted else { return }
        #expect(!worker.text.contains("storvsc_host_t"), "a SCSI controller without disks")
        let added = try ControlClient(path: socket).request(#"{"version":1,"kind":"addDisk","disk":{"path":"\#(disk)"}}"#)
        #expect(added.contains(#""kind":"ok""#) && added.contains(#""lun":0"#), "addDisk: \(added)")
        #expect(
            worker.waitFor("sd 0:0:0:0: [sda] 8192 512-byte logical blocks: (4.19 MB/4.00 MiB)", timeout: 180),
            "storvsc did not probe the late controller's disk; log in \(logPath)")
        worker.type([0x1D, UInt8(ascii: "b")])
        Thread.sleep(forTimeInterval: 0.5)
        worker.type([UInt8(ascii: "o")])
        let status = worker.waitForExit(timeout: 180)
        #expect(status == 0, "worker status \(String(describing: status)) after SysRq power-off; log in \(logPath)")
    }

    /// True when an exclusive flock on `path` can be taken now (no worker holds the image).
    static func isUnlocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }
}

/// The worker control protocol from the test's side: one connection per request, a 4-byte
/// big-endian length then JSON each way.
struct ControlClient {
    let path: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    func request(_ json: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw Failure(description: "socket path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect \(path): errno \(errno)") }
        var timeout = timeval(tv_sec: 90, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let body = Array(json.utf8)
        let length = UInt32(body.count)
        let frame = [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
        guard write(fd, frame, frame.count) == frame.count else { throw Failure(description: "write: errno \(errno)") }
        let header = try readExactly(fd, 4)
        let count = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard count < 1 << 20 else { throw Failure(description: "reply of \(count) bytes") }
        return String(decoding: try readExactly(fd, count), as: UTF8.self)
    }

    private func readExactly(_ fd: Int32, _ count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress.map { $0 + done }, count - done) }
            guard n > 0 else { throw Failure(description: "read: \(n < 0 ? "errno \(errno)" : "closed") after \(done) of \(count) bytes") }
            done += n
        }
        return buffer
    }
}
