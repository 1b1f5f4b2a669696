/// A configuration that cannot run, with what to change.
public struct ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let field: String
    public let problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "\(field): \(problem)" }
}

extension VMConfiguration {
    /// Smallest RAM a Linux guest boots in with this loader's memory map.
    public static let minimumMemoryMiB: UInt64 = 32
    /// A sanity cap (1 TiB); the host's own limits apply below it.
    public static let maximumMemoryMiB: UInt64 = 1 << 20
    public static let maximumCPUs = 240

    /// Every problem with this configuration (empty when it can run).
    public func validationErrors() -> [ConfigurationError] {
        var errors: [ConfigurationError] = []
        if version > Self.currentVersion {
            errors.append(.init(field: "version", problem: "schema \(version) is newer than this build understands (\(Self.currentVersion)); upgrade SwiftHV"))
        }
        if name.isEmpty || name.count > 100 || name.contains("/") || Self.hasControlCharacters(name) {
            errors.append(.init(field: "name", problem: "must be 1-100 printable characters without '/'"))
        }
        if memoryMiB < Self.minimumMemoryMiB || memoryMiB > Self.maximumMemoryMiB {
            errors.append(.init(field: "memoryMiB", problem: "\(memoryMiB) MiB is outside \(Self.minimumMemoryMiB)...\(Self.maximumMemoryMiB) MiB"))
        }
        if cpus < 1 || cpus > Self.maximumCPUs {
            errors.append(.init(field: "cpus", problem: "\(cpus) is outside 1...\(Self.maximumCPUs)"))
        }
        if boot.kernel.isEmpty { errors.append(.init(field: "boot.kernel", problem: "a kernel path is required")) }
        if boot.cmdline.utf8.count > 4095 {
            errors.append(.init(field: "boot.cmdline", problem: "longer than 4095 bytes"))
        }
        errors += deviceValidationErrors()
        return errors
    }

    /// Most disks and adapters one VM may have (one SCSI controller's LUNs; a sane NIC count).
    public static let maximumDisks = Int(DiskAttachment.maximumLUN) + 1
    public static let maximumNetworkAdapters = 8

    /// The LUN each disk gets: its own, else the lowest one not taken; `nil` when none is left.
    public func assignedLUNs() -> [UInt8?] {
        var taken = Set(disks.compactMap(\.lun))
        return disks.map { disk in
            if let lun = disk.lun { return lun }
            guard let free = (0...DiskAttachment.maximumLUN).first(where: { !taken.contains($0) }) else { return nil }
            taken.insert(free)
            return free
        }
    }

    private static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    private func deviceValidationErrors() -> [ConfigurationError] {
        var errors: [ConfigurationError] = []
        if disks.count > Self.maximumDisks {
            errors.append(.init(field: "disks", problem: "\(disks.count) disks; the SCSI controller has \(Self.maximumDisks) LUNs"))
        }
        var seenLUNs: Set<UInt8> = []
        var seenPaths: Set<String> = []
        for (index, disk) in disks.enumerated() {
            let field = "disks[\(index)]"
            if disk.path.isEmpty { errors.append(.init(field: "\(field).path", problem: "a disk image path is required")) }
            if Self.hasControlCharacters(disk.path) {
                errors.append(.init(field: "\(field).path", problem: "the path contains control characters"))
            }
            if !seenPaths.insert(disk.path).inserted {
                errors.append(.init(field: "\(field).path", problem: "\(disk.path) is attached twice; attach each image once"))
            }
            if let lun = disk.lun {
                if lun > DiskAttachment.maximumLUN {
                    errors.append(.init(field: "\(field).lun", problem: "\(lun) is outside 0...\(DiskAttachment.maximumLUN)"))
                } else if !seenLUNs.insert(lun).inserted {
                    errors.append(.init(field: "\(field).lun", problem: "LUN \(lun) is taken by another disk"))
                }
            }
        }
        if networkAdapters.count > Self.maximumNetworkAdapters {
            errors.append(.init(field: "networkAdapters", problem: "\(networkAdapters.count) adapters; at most \(Self.maximumNetworkAdapters)"))
        }
        var seenTaps: Set<String> = []
        var seenMACs: Set<MACAddress> = []
        for (index, adapter) in networkAdapters.enumerated() {
            let field = "networkAdapters[\(index)]"
            let tapBytes = adapter.tap.utf8
            // What the kernel's dev_valid_name refuses ('/', ':', whitespace, "." and ".."), and
            // control characters, which would garble logs and tables.
            if tapBytes.isEmpty || tapBytes.count > NetworkAdapterConfiguration.maximumTapNameLength
                || adapter.tap.contains("/") || adapter.tap.contains(":") || adapter.tap.contains(where: \.isWhitespace)
                || Self.hasControlCharacters(adapter.tap) || adapter.tap == "." || adapter.tap == ".."
            {
                errors.append(.init(field: "\(field).tap", problem: "must be 1-\(NetworkAdapterConfiguration.maximumTapNameLength) bytes without '/', ':', spaces or control characters"))
            } else if !seenTaps.insert(adapter.tap).inserted {
                errors.append(.init(field: "\(field).tap", problem: "TAP \(adapter.tap) is used by another adapter"))
            }
            if let text = adapter.macAddress {
                if let mac = MACAddress(text) {
                    if !mac.isUnicast { errors.append(.init(field: "\(field).macAddress", problem: "\(text) is a multicast address; use a unicast one")) }
                    if !seenMACs.insert(mac).inserted { errors.append(.init(field: "\(field).macAddress", problem: "\(text) is used by another adapter")) }
                } else {
                    errors.append(.init(field: "\(field).macAddress", problem: "\"\(text)\" is not a MAC address like 00:15:5d:01:02:03"))
                }
            }
        }
        return errors
    }
}
