import ArgumentParser
import VirtualDisk

/// `hv-worker disk resize`: grow an image.
struct DiskResize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize", abstract: "Grow an image to a new virtual size (shrinking is refused).",
        discussion: "Example: hv-worker disk resize --size 40G disk.vhdx")

    @Option(help: "New virtual size, e.g. 40G.")
    var size: String
    @Argument(help: "Image to grow.")
    var path: String

    func run() throws {
        let bytes = try parseSizeOption(size, option: "--size")
        try DiskOperations.resize(path: path, to: bytes)
        print("resized \(path) to \(ByteCount.format(bytes))")
    }
}
