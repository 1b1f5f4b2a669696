import Foundation

/// Finds and runs `scripts/guest-image`, the shell tool that builds SwiftHV's guest images into
/// `${SWIFTHV_CACHE:-$HOME/.cache/swifthv}/images` (see docs/guest-images.md).
///
/// The images are built by a script rather than Swift code because the work is driving Debian
/// tools (`make`, `apt-get download`, `dpkg-deb`, `depmod`, `lz4`); this type is the seam Swift
/// callers (the `image` command, integration tests) use to reach it.
public struct GuestImageScript: Sendable {
    /// Path of the script's executable file.
    public let path: String

    /// Environment variable naming the script explicitly.
    public static let environmentKey = "SWIFTHV_GUEST_IMAGE"
    /// The script's path relative to a repository root.
    public static let relativePath = "scripts/guest-image"

    /// Wraps the script at `path` (not checked here; `locate` checks).
    public init(path: String) {
        self.path = path
    }

    /// Finds the script: `explicit` if given, else `$SWIFTHV_GUEST_IMAGE`, else the first
    /// `scripts/guest-image` in one of `searchRoots` or a directory above it.
    /// - Throws: `GuestImageError.scriptNotFound` listing where it looked, or
    ///   `.notExecutable` when an explicitly named file is not executable.
    public static func locate(
        explicit: String?,
        environment: [String: String],
        searchRoots: [String]
    ) throws(GuestImageError) -> GuestImageScript {
        let fileManager = FileManager.default
        if let named = explicit ?? environment[environmentKey], !named.isEmpty {
            guard fileManager.isExecutableFile(atPath: named) else { throw .notExecutable(named) }
            return GuestImageScript(path: named)
        }
        for root in searchRoots {
            var directory = URL(fileURLWithPath: root).standardizedFileURL
            // A path has finitely many parents; the bound guards against odd file systems.
            for _ in 0..<64 {
                let candidate = directory.appendingPathComponent(relativePath).path
                if fileManager.isExecutableFile(atPath: candidate) {
                    return GuestImageScript(path: candidate)
                }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        throw .scriptNotFound(searched: searchRoots)
    }

    /// Runs the script with `arguments`, its output going to this process's stdout and stderr.
    /// - Returns: the script's exit status.
    public func run(arguments: [String]) throws(GuestImageError) -> Int32 {
        let process = makeProcess(arguments: arguments, environment: nil)
        do { try process.run() } catch { throw .launchFailed(path, String(describing: error)) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Runs the script with `arguments` and captures its stdout (stderr passes through).
    /// - Parameter environment: replaces the inherited environment when not nil.
    /// - Returns: the exit status and the text written to stdout.
    public func capture(
        arguments: [String],
        environment: [String: String]? = nil
    ) throws(GuestImageError) -> (status: Int32, output: String) {
        let process = makeProcess(arguments: arguments, environment: environment)
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { throw .launchFailed(path, String(describing: error)) }
        // Read before waiting: a full pipe would otherwise block the script forever.
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The files of every image built from the current inputs (`guest-image paths`), without
    /// building anything. Images that are missing are simply absent from the result.
    public func cachedImages(environment: [String: String]? = nil) throws(GuestImageError) -> GuestImagePaths {
        GuestImagePaths(parsing: try capture(arguments: ["paths"], environment: environment).output)
    }

    private func makeProcess(arguments: [String], environment: [String: String]?) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        return process
    }
}

/// The `name.file=path` lines `scripts/guest-image` prints, e.g.
/// `test-kernel.vmlinux=/root/.cache/swifthv/images/test-kernel-0123456789abcdef/vmlinux`.
public struct GuestImagePaths: Sendable, Equatable {
    /// Path of each file, keyed by `image.file` (`"test-kernel.vmlinux"`).
    public var files: [String: String]

    /// Parses the script's stdout; lines that are not `image.file=/absolute/path` are ignored.
    public init(parsing output: String) {
        var files: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals]
            let value = line[line.index(after: equals)...]
            guard key.contains("."), !key.contains(" "), value.hasPrefix("/") else { continue }
            files[String(key)] = String(value)
        }
        self.files = files
    }

    /// The path of `file` (`"vmlinux"`, `"bzImage"`, `"initramfs.cpio"`) of `image`
    /// (`"test-kernel"`, `"test-initramfs"`, `"test-initramfs-busybox"`, `"stock"`).
    public func path(image: String, file: String) -> String? {
        files["\(image).\(file)"]
    }
}

/// Why `scripts/guest-image` could not be found or started.
public enum GuestImageError: Error, Equatable, CustomStringConvertible {
    /// No `scripts/guest-image` in or above any of these directories.
    case scriptNotFound(searched: [String])
    /// The explicitly named script is missing or not executable.
    case notExecutable(String)
    /// Starting the script failed.
    case launchFailed(String, String)

    public var description: String {
        switch self {
        case .scriptNotFound(let roots):
            "cannot find \(GuestImageScript.relativePath) in or above \(roots.joined(separator: ", "));"
                + " pass --script or set \(GuestImageScript.environmentKey)"
        case .notExecutable(let path): "\(path) is not an executable file"
        case .launchFailed(let path, let reason): "cannot run \(path): \(reason)"
        }
    }
}
