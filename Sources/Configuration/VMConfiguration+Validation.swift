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
        if name.isEmpty || name.count > 100 || name.contains("/") || name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
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
        return errors
    }
}
