import ArgumentParser
import Foundation
import VirtualDisk

/// `hv-worker disk check`: validate an image.
struct DiskCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate every structure, checksum, BAT entry and the parent chain.")

    @Flag(help: "Replay a pending metadata log into the file (after a crash).")
    var repair = false
    @Flag(help: "Print JSON instead of text.")
    var json = false
    @Argument(help: "Image to check.")
    var path: String

    func run() throws {
        let report = try DiskOperations.check(path: path, repair: repair)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else if report.ok {
            print("\(path): no problems found\(report.logReplayed ? " (pending log replayed)" : "")")
            if report.logPending { print("\(path): has a pending metadata log from an unclean shutdown; run 'disk check --repair' to apply it") }
        } else {
            for problem in report.problems { print("\(path): \(problem)") }
        }
        if !report.ok { throw ExitCode(2) }
    }
}
