import ArgumentParser
import Foundation
import VirtualDisk

/// `hv-worker disk inspect`: what an image is, read-only.
struct DiskInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show format, sizes, block size, sector sizes, allocation and parent chain.")

    @Flag(help: "Print JSON instead of text.")
    var json = false
    @Argument(help: "Image to inspect.")
    var path: String

    func run() throws {
        let info = try DiskInfo.inspect(path: path)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(info), as: UTF8.self))
            return
        }
        print("path:          \(info.path)")
        print("format:        \(info.format.rawValue) (\(info.type))")
        print("virtual size:  \(ByteCount.format(info.virtualSize)) (\(info.virtualSize) bytes)")
        if info.format == .vhdx { print("block size:    \(ByteCount.format(UInt64(info.blockSize)))") }
        print("sector size:   \(info.logicalSectorSize) logical, \(info.physicalSectorSize) physical")
        print("file size:     \(ByteCount.format(info.fileSize))")
        print("allocated:     \(ByteCount.format(info.allocatedBytes))")
        if !info.parentChain.isEmpty { print("parent chain:  \(([info.path] + info.parentChain).joined(separator: " -> "))") }
    }
}
