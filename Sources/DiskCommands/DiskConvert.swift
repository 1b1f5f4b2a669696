import ArgumentParser
import VirtualDisk

/// `hv-worker disk convert`: copy an image into a new one of another format.
struct DiskConvert: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert between raw and VHDX (the source is only read; the destination must not exist).",
        discussion: "Example: hv-worker disk convert --format vhdx disk.img disk.vhdx")

    @Option(help: "Destination format: raw or vhdx (default: from the destination extension).")
    var format: DiskFormat?
    @Option(help: "VHDX destination type: fixed or dynamic.")
    var type: DiskCreate.Kind = .dynamic
    @Option(name: .customLong("block-size"), help: "VHDX destination block size (default 32M).")
    var blockSize: String?
    @Argument(help: "Source image.")
    var source: String
    @Argument(help: "Destination image (created).")
    var destination: String

    func validate() throws {
        if type == .differencing { throw ValidationError("convert makes fixed or dynamic images; use 'disk create --type differencing' for a child") }
    }

    func run() throws {
        let target = format ?? (destination.lowercased().hasSuffix(".vhdx") ? .vhdx : .raw)
        let block = try blockSize.map { UInt32(clamping: try parseSizeOption($0, option: "--block-size")) }
        let reporter = ProgressReporter(label: "converting")
        try DiskOperations.convert(
            source: source, destination: destination, format: target, vhdxType: type == .fixed ? .fixed : .dynamic, blockSize: block,
            progress: { reporter.update($0, $1) })
        reporter.finish()
        print("converted \(source) -> \(destination) (\(target.rawValue))")
    }
}
