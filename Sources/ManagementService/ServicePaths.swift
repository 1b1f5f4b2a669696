import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where `hvd` keeps its files (docs/management.md): the state directory (inventory, per-VM
/// logs) and the runtime directory (sockets, pid files; gone at reboot).
public struct ServicePaths: Sendable, Equatable {
    public let stateDirectory: String
    public let runtimeDirectory: String

    public init(stateDirectory: String, runtimeDirectory: String) {
        self.stateDirectory = stateDirectory
        self.runtimeDirectory = runtimeDirectory
    }

    /// `/var/lib/swifthv` as root, `~/.local/share/swifthv` otherwise.
    public static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/swifthv" }
        return NSHomeDirectory() + "/.local/share/swifthv"
    }

    /// `/run/swifthv` as root, `$XDG_RUNTIME_DIR/swifthv` otherwise (or the state directory's `run/`).
    public static func defaultRuntimeDirectory(stateDirectory: String) -> String {
        if getuid() == 0 { return "/run/swifthv" }
        if let xdg = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !xdg.isEmpty { return xdg + "/swifthv" }
        return stateDirectory + "/run"
    }

    /// Where `scripts/guest-image` caches kernels and images (allowed by default).
    public static var guestImageCache: String { NSHomeDirectory() + "/.cache/swifthv/images" }

    public var inventory: String { stateDirectory + "/inventory.sqlite" }
    /// The API socket `hv` connects to.
    public var apiSocket: String { runtimeDirectory + "/hvd.sock" }
    public func vmDirectory(_ id: String) -> String { stateDirectory + "/vms/" + id }
    /// The VM's saved state (Save-VM), in its directory under the state directory.
    public func savedState(_ id: String) -> String { vmDirectory(id) + "/saved-state.hvsave" }
    public func workerSocket(_ id: String) -> String { runtimeDirectory + "/workers/" + id + ".sock" }
    /// Where the images users name by relative path live, and one of the allowed directories.
    public var imagesDirectory: String { stateDirectory + "/images" }

    /// Creates the directories (0700 for runtime: sockets of running VMs).
    public func create() throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: stateDirectory + "/vms", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: imagesDirectory, withIntermediateDirectories: true)
        try fm.createDirectory(
            atPath: runtimeDirectory + "/workers", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
}
