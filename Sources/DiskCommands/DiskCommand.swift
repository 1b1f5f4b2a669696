import ArgumentParser
import VirtualDisk

/// `hv-worker disk`: create, inspect, convert, resize, merge and check disk images.
public struct DiskCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "disk",
        abstract: "Create, inspect, convert, resize, merge and check raw and VHDX disk images.",
        subcommands: [DiskCreate.self, DiskInspect.self, DiskConvert.self, DiskResize.self, DiskMerge.self, DiskCheck.self]
    )
    public init() {}
}

/// Formats byte counts for people: "10 GiB", "1.5 MiB", "512 B".
enum ByteCount {
    static func format(_ bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[unit])" : "\(rounded) \(units[unit])"
    }
}

/// Turns a size option into bytes, with an error that says what was wrong.
func parseSizeOption(_ text: String, option: String) throws -> UInt64 {
    do {
        return try VirtualDisks.parseSize(text)
    } catch {
        throw ValidationError("\(option): \(error)")
    }
}
