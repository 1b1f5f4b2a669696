import ArgumentParser
import VirtualDisk

/// `hv-worker disk create`: a new raw or VHDX image.
struct DiskCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a new disk image (never overwrites an existing file).",
        discussion: """
            Examples:
              hv-worker disk create --size 20G disk.vhdx
              hv-worker disk create --format vhdx --type fixed --size 4G fixed.vhdx
              hv-worker disk create --type differencing --parent base.vhdx child.vhdx
              hv-worker disk create --format raw --size 10G disk.img
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case fixed, dynamic, differencing }

    @Option(help: "Image format: raw or vhdx (default: from the file extension, else vhdx).")
    var format: DiskFormat?
    @Option(help: "Virtual size, with optional unit: 512, 64K, 10G, 2T. Not used with --parent.")
    var size: String?
    @Option(help: "VHDX type: fixed, dynamic or differencing.")
    var type: Kind = .dynamic
    @Option(help: "Parent image of a differencing disk.")
    var parent: String?
    @Option(name: .customLong("block-size"), help: "VHDX block size, a power of two from 1M to 256M (default 32M, or the parent's).")
    var blockSize: String?
    @Option(name: .customLong("sector-size"), help: "VHDX logical sector size: 512 or 4096.")
    var sectorSize: UInt32 = 512
    @Argument(help: "Path of the new image.")
    var path: String

    var resolvedFormat: DiskFormat {
        format ?? (path.lowercased().hasSuffix(".img") || path.lowercased().hasSuffix(".raw") ? .raw : .vhdx)
    }

    func validate() throws {
        if parent != nil, type != .differencing {
            throw ValidationError("--parent needs --type differencing")
        }
        if type == .differencing {
            guard parent != nil else { throw ValidationError("--type differencing needs --parent <image>") }
            guard resolvedFormat == .vhdx else { throw ValidationError("differencing disks are VHDX only") }
            if size != nil { throw ValidationError("a differencing disk takes its size from the parent: drop --size") }
        } else if size == nil {
            throw ValidationError("--size is required, e.g. --size 10G")
        }
        if resolvedFormat == .raw, type == .fixed || blockSize != nil {
            throw ValidationError("--type fixed and --block-size apply to VHDX only")
        }
    }

    func run() throws {
        let bytes = try size.map { try parseSizeOption($0, option: "--size") } ?? 0
        switch resolvedFormat {
        case .raw:
            try RawDisk.create(path: path, size: bytes).close()
        case .vhdx:
            let vhdxType: VHDXType
            switch type {
            case .fixed: vhdxType = .fixed
            case .dynamic: vhdxType = .dynamic
            case .differencing: vhdxType = .differencing(parentPath: parent ?? "")
            }
            let block = try blockSize.map { try parseSizeOption($0, option: "--block-size") }
            guard block.map({ $0 <= UInt64(UInt32.max) }) ?? true else { throw ValidationError("--block-size is too large") }
            let options = VHDXCreateOptions(
                virtualSize: (bytes + UInt64(sectorSize) - 1) / UInt64(sectorSize) * UInt64(sectorSize), type: vhdxType,
                blockSize: block.map { UInt32($0) }, logicalSectorSize: sectorSize)
            let reporter = type == .fixed ? ProgressReporter(label: "allocating") : nil
            let disk = try VHDXDisk.create(path: path, options: options, progress: reporter.map { r in { r.update($0, $1) } })
            reporter?.finish()
            try disk.close()
        }
        let info = try DiskInfo.inspect(path: path)
        print("created \(path): \(info.format.rawValue) \(info.type), \(ByteCount.format(info.virtualSize))")
    }
}

extension DiskFormat: ExpressibleByArgument {}
