import ArgumentParser
import VirtualDisk

/// `hv-worker disk merge`: fold a differencing disk into its parent.
struct DiskMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Write a differencing disk's data into its parent.",
        discussion: """
            Afterwards the parent holds the merged contents and the child no longer matches it
            (opening the child is refused); delete the child when you no longer need it.
            """)

    @Argument(help: "The differencing (child) image.")
    var child: String

    func run() throws {
        let reporter = ProgressReporter(label: "merging")
        let parent = try DiskOperations.merge(child: child, progress: { reporter.update($0, $1) })
        reporter.finish()
        print("merged \(child) into \(parent); \(child) is now stale and can be deleted")
    }
}
