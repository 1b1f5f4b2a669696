import Configuration
import Foundation
import HVClient
import Testing

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Executables and inputs the process-level tests use, and why they skip.
enum TestEnvironment {
    static let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    static var hvd: String { buildDirectory.appendingPathComponent("hvd").path }
    static var worker: String { buildDirectory.appendingPathComponent("hv-worker").path }
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// nil when `hvd` can be run (no KVM needed).
    static var hvdSkipReason: String? {
        FileManager.default.isExecutableFile(atPath: hvd) ? nil : "hvd is not built at \(hvd) (swift build --build-tests builds it)"
    }

    static var canRunHVD: Bool {
        if let reason = hvdSkipReason {
            print("ManagementServiceTests SKIPPED (hvd process tests): \(reason)")
            return false
        }
        return true
    }

    /// The cached test kernel and spin initramfs from `scripts/guest-image paths`.
    static let guestImages: (kernel: String, initramfs: String)? = {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("scripts/guest-image")
        process.arguments = ["paths"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var found: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { found[parts[0]] = parts[1] }
        }
        guard let kernel = found["test-kernel.vmlinux"], let initramfs = found["test-initramfs.initramfs.cpio"],
            FileManager.default.fileExists(atPath: kernel), FileManager.default.fileExists(atPath: initramfs)
        else { return nil }
        return (kernel, initramfs)
    }()

    static var guestSkipReason: String? {
        if let reason = hvdSkipReason { return reason }
        if access("/dev/kvm", R_OK | W_OK) != 0 { return "/dev/kvm is missing or not accessible" }
        if !FileManager.default.isExecutableFile(atPath: worker) { return "hv-worker is not built at \(worker)" }
        if guestImages == nil { return "scripts/guest-image paths found no cached test kernel + test-initramfs (run scripts/test-guest once)" }
        return nil
    }

    static var canBootGuests: Bool {
        if let reason = guestSkipReason {
            print("ManagementServiceTests SKIPPED (guest boot tests): \(reason)")
            return false
        }
        return true
    }

    /// The test kernel's command line without "quiet", so the console shows the boot.
    static let cmdline =
        "console=ttyS0 reboot=t panic=-1 lpj=2000000 tsc=reliable noxsave mitigations=off nopti nokaslr nowatchdog noreplace-smp sysrq_always_enabled"
}

/// A scratch directory short enough for Unix socket paths (108 bytes).
final class ScratchDirectory {
    let path: String
    init() throws {
        path = "/tmp/hvdtest-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A real `hvd` process on a scratch state directory.
final class HVDProcess {
    let scratch: ScratchDirectory
    let process: Process
    var stateDirectory: String { scratch.path + "/state" }
    var socket: String { scratch.path + "/run/hvd.sock" }
    var client: HVClient { HVClient(socketPath: socket) }
    /// A directory hvd allows kernels from (tests put fake kernels here).
    var imagesDirectory: String { stateDirectory + "/images" }

    /// - Parameter arguments: more hvd options (the TCP listener's, for example).
    init(scratch: ScratchDirectory? = nil, extraAllowed: [String] = [], arguments: [String] = []) throws {
        let scratch = try scratch ?? ScratchDirectory()
        self.scratch = scratch
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.hvd)
        process.arguments =
            ["--state-dir", scratch.path + "/state", "--runtime-dir", scratch.path + "/run", "--worker", TestEnvironment.worker]
            + extraAllowed.flatMap { ["--allow-dir", $0] } + arguments
        let log = scratch.path + "/hvd.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if (try? client.host()) != nil { return }
            usleep(50_000)
        }
        throw HVClientError.unreachable(socket, "hvd did not start; see \(log)")
    }

    /// Restarts `hvd` on the same directories (after `kill9()` or `terminate()`).
    func restarted() throws -> HVDProcess { try HVDProcess(scratch: scratch) }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// A small file hvd accepts as a kernel path (tests that never start the VM).
    func fakeKernel() throws -> String {
        let path = imagesDirectory + "/fake-vmlinux"
        try Data("not a kernel".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Waits until `condition` holds (polling), or the timeout passes.
    func wait(timeout: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(100_000)
        }
        return condition()
    }
}

/// A raw HTTP exchange for tests that send what `HVClient` would never send.
func rawRequest(_ socket: String, method: String, path: String, body: String?) throws -> (status: Int, json: [String: Any]) {
    let response = try HVClient(socketPath: socket).send(method, path, body: Array((body ?? "").utf8))
    let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
    return (response.status, json)
}
