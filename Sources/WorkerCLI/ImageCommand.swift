import ArgumentParser
import Foundation

/// `hv-worker image <action>`: builds or locates guest images by running the repository's
/// `scripts/guest-image` (docs/guest-images.md), passing its output and exit status through.
public struct ImageCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build or locate guest images (runs scripts/guest-image).",
        discussion: """
            Images are cached by content hash in ${SWIFTHV_CACHE:-$HOME/.cache/swifthv}/images; \
            output is one `image.file=path` line per file.
            """
    )

    /// What to build or show.
    @Argument(help: "One of: \(GuestImageAction.allCases.map(\.rawValue).joined(separator: ", ")).")
    public var action: GuestImageAction

    /// Explicit script path; otherwise `$SWIFTHV_GUEST_IMAGE` or a search upwards.
    @Option(help: "Path of scripts/guest-image (default: $SWIFTHV_GUEST_IMAGE, else found above the current directory or this executable).")
    public var script: String?

    public init() {}

    public func run() throws {
        let executableDirectory = URL(fileURLWithPath: CommandLine.arguments.first ?? ".")
            .deletingLastPathComponent().path
        let located = try GuestImageScript.locate(
            explicit: script,
            environment: ProcessInfo.processInfo.environment,
            searchRoots: [FileManager.default.currentDirectoryPath, executableDirectory]
        )
        let status = try located.run(arguments: [action.rawValue])
        if status != 0 { throw ExitCode(status) }
    }
}

/// The actions `scripts/guest-image` understands.
public enum GuestImageAction: String, CaseIterable, ExpressibleByArgument, Sendable {
    case testKernel = "test-kernel"
    case testInitramfs = "test-initramfs"
    case testInitramfsBusybox = "test-initramfs-busybox"
    case stock
    case all
    case paths
    case prune
}
