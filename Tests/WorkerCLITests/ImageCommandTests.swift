import Foundation
import Testing

@testable import WorkerCLI

@Suite struct GuestImagePathsTests {
    @Test func parsesScriptOutput() {
        let output = """
            test-kernel.vmlinux=/c/images/test-kernel-0123456789abcdef/vmlinux
            test-kernel.bzImage=/c/images/test-kernel-0123456789abcdef/bzImage
            guest-image: building test kernel (not a path line)
            stock.initramfs.cpio=/c/images/stock-fedcba9876543210/initramfs.cpio

            """
        let paths = GuestImagePaths(parsing: output)
        #expect(paths.files.count == 3)
        #expect(paths.path(image: "test-kernel", file: "vmlinux") == "/c/images/test-kernel-0123456789abcdef/vmlinux")
        #expect(paths.path(image: "stock", file: "initramfs.cpio") == "/c/images/stock-fedcba9876543210/initramfs.cpio")
        #expect(paths.path(image: "stock", file: "vmlinux") == nil)
    }

    @Test func ignoresMalformedLines() {
        let paths = GuestImagePaths(parsing: "=/x\nnodot=/x\na.b=relative\nwith space.x=/y\n\u{0}\u{1}=\n")
        #expect(paths.files.isEmpty)
    }
}

@Suite struct GuestImageScriptTests {
    /// A temporary tree `root/scripts/guest-image` (executable) plus `root/a/b/c`.
    private func makeTree() throws -> (root: String, nested: String) {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("swifthv-image-test-\(UUID().uuidString)").path
        let nested = root + "/a/b/c"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/scripts", withIntermediateDirectories: true)
        let script = root + "/scripts/guest-image"
        try "#!/bin/sh\necho \"test-kernel.vmlinux=/k/$1\"\nexit 3\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        return (root, nested)
    }

    @Test func findsScriptAboveSearchRoot() throws {
        let (root, nested) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let found = try GuestImageScript.locate(explicit: nil, environment: [:], searchRoots: ["/nonexistent", nested])
        #expect(found.path == root + "/scripts/guest-image")
    }

    @Test func explicitAndEnvironmentWin() throws {
        let (root, nested) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let script = root + "/scripts/guest-image"
        #expect(try GuestImageScript.locate(explicit: script, environment: [:], searchRoots: []).path == script)
        let env = [GuestImageScript.environmentKey: script]
        #expect(try GuestImageScript.locate(explicit: nil, environment: env, searchRoots: [nested]).path == script)
        #expect(throws: GuestImageError.notExecutable(root + "/missing")) {
            try GuestImageScript.locate(explicit: root + "/missing", environment: [:], searchRoots: [nested])
        }
    }

    @Test func reportsWhereItLooked() throws {
        let (root, _) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(throws: GuestImageError.scriptNotFound(searched: ["/proc/self"])) {
            try GuestImageScript.locate(explicit: nil, environment: [:], searchRoots: ["/proc/self"])
        }
    }

    @Test func capturesOutputAndStatus() throws {
        let (root, nested) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let script = try GuestImageScript.locate(explicit: nil, environment: [:], searchRoots: [nested])
        let result = try script.capture(arguments: ["paths"])
        #expect(result.status == 3)
        #expect(GuestImagePaths(parsing: result.output).path(image: "test-kernel", file: "vmlinux") == "/k/paths")
    }

    /// The real script, against an empty cache: `paths` must build nothing, print no path and
    /// fail. Needs this repository's scripts and Debian's dpkg/apt (skipped elsewhere).
    @Test(.enabled(if: RealScript.usable, RealScript.reason))
    func realScriptPathsOnEmptyCache() throws {
        let cache = FileManager.default.temporaryDirectory
            .appendingPathComponent("swifthv-empty-cache-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: cache) }
        var env = ProcessInfo.processInfo.environment
        env["SWIFTHV_CACHE"] = cache
        let script = try GuestImageScript.locate(explicit: nil, environment: [:], searchRoots: [RealScript.repoRoot])
        let result = try script.capture(arguments: ["paths"], environment: env)
        #expect(result.status == 1)
        #expect(GuestImagePaths(parsing: result.output).files.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: cache), "a --cached look must not create the cache")
    }

    @Test func commandParsesActions() throws {
        let command = try ImageCommand.parse(["test-kernel", "--script", "/x/guest-image"])
        #expect(command.action == .testKernel)
        #expect(command.script == "/x/guest-image")
        #expect(throws: (any Error).self) { try ImageCommand.parse(["bogus"]) }
    }
}

/// Whether this checkout's `scripts/guest-image` can run here (it needs Debian's dpkg and apt).
enum RealScript {
    static let repoRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var usable: Bool {
        let fm = FileManager.default
        let ok = fm.isExecutableFile(atPath: repoRoot + "/scripts/guest-image")
            && fm.isExecutableFile(atPath: "/usr/bin/dpkg-query") && fm.isExecutableFile(atPath: "/usr/bin/apt-cache")
        if !ok { print("SKIP realScriptPathsOnEmptyCache: needs \(repoRoot)/scripts/guest-image, dpkg-query and apt-cache") }
        return ok
    }
    static let reason: Comment = "needs scripts/guest-image plus Debian's dpkg-query and apt-cache"
}
