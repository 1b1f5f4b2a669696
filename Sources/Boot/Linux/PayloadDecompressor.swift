import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The compression of a bzImage payload, recognised by its magic bytes.
public struct PayloadCompression: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let none = Self(rawValue: "none")
    public static let lz4 = Self(rawValue: "lz4")
    public static let gzip = Self(rawValue: "gzip")
    public static let xz = Self(rawValue: "xz")
    public static let zstd = Self(rawValue: "zstd")
    public static let bzip2 = Self(rawValue: "bzip2")
    public static let lzma = Self(rawValue: "lzma")
    public static let lzo = Self(rawValue: "lzo")
    public static let unknown = Self(rawValue: "unknown")

    public var description: String { rawValue }

    /// Detects the compression from the payload's first bytes (the kernel's own magics,
    /// lib/decompress.c `compressed_formats`).
    public static func detect(_ payload: [UInt8]) -> Self {
        func starts(_ magic: [UInt8]) -> Bool { payload.count >= magic.count && Array(payload.prefix(magic.count)) == magic }
        if starts([0x02, 0x21, 0x4C, 0x18]) { return .lz4 }
        if starts([0x1F, 0x8B]) || starts([0x1F, 0x9E]) { return .gzip }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0x42, 0x5A, 0x68]) { return .bzip2 }
        if starts([0x5D, 0x00, 0x00]) { return .lzma }
        if starts([0x89, 0x4C, 0x5A, 0x4F]) { return .lzo }
        if starts(ELFImage.magic) { return .none }
        return .unknown
    }
}

/// Turns a bzImage payload back into the ELF `vmlinux`: LZ4 in Swift, gzip/xz/zstd through the
/// host's own tools (`gzip -dc`, `xz -dc`, `zstd -dc`), whose output is read with a cap.
enum PayloadDecompressor {
    /// Decompresses `payload`, refusing output beyond `outputLimit` bytes.
    /// - Parameter toolDirectories: where to look for gzip/xz/zstd; `nil` means `PATH`, then
    ///   /usr/bin and /bin.
    static func decompress(_ payload: [UInt8], outputLimit: Int, toolDirectories: [String]? = nil)
        throws(LinuxLoaderError) -> [UInt8]
    {
        let dirs = toolDirectories ?? defaultToolDirectories
        let compression = PayloadCompression.detect(payload)
        switch compression {
        case .none:
            return payload
        case .lz4:
            let result: LZ4Legacy.Result
            do {
                result = try LZ4Legacy.decode(payload, outputLimit: outputLimit)
            } catch {
                if case .outputLimitExceeded(let l) = error {
                    throw .tooLarge(what: "decompressed kernel", size: UInt64(l) + 1, limit: UInt64(l))
                }
                throw .corruptPayload(reason: error.description)
            }
            if let trailer = result.trailer, Int(trailer) != result.output.count {
                throw .corruptPayload(
                    reason: "LZ4 output is \(result.output.count) bytes but the payload says \(trailer)")
            }
            return result.output
        case .gzip:
            return try runTool("gzip", ["-dc"], input: payload, outputLimit: outputLimit, dirs)
        case .xz:
            // The kernel appends the uncompressed size after the .xz stream.
            return try runTool("xz", ["-dc", "--single-stream"], input: payload, outputLimit: outputLimit, dirs)
        case .zstd:
            // Strip the 4-byte size the kernel build appends (`zstd22_with_size`).
            let trimmed = payload.count > 8 ? Array(payload.dropLast(4)) : payload
            return try runTool("zstd", ["-dc", "-q"], input: trimmed, outputLimit: outputLimit, dirs)
        default:
            throw .unsupportedCompression(compression.rawValue)
        }
    }

    /// `PATH`, then /usr/bin and /bin.
    static var defaultToolDirectories: [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin"]
    }

    /// The executable `name` in one of `dirs`, if any.
    static func findTool(_ name: String, in dirs: [String]) -> String? {
        for dir in dirs where !dir.isEmpty {
            let candidate = dir + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `tool args file` with the payload in a temporary file, reading stdout up to the cap.
    private static func runTool(_ tool: String, _ args: [String], input: [UInt8], outputLimit: Int, _ dirs: [String])
        throws(LinuxLoaderError) -> [UInt8]
    {
        guard let executable = findTool(tool, in: dirs) else { throw .decompressorMissing(tool: tool) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swifthv-boot-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw .corruptPayload(reason: "cannot create a temporary directory: \(error)")
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        let inputURL = dir.appendingPathComponent("payload")
        let errorURL = dir.appendingPathComponent("stderr")
        let process = Process()
        let stdout = Pipe()
        var output: [UInt8] = []
        do {
            try Data(input).write(to: inputURL)
            guard FileManager.default.createFile(atPath: errorURL.path, contents: nil) else {
                throw LinuxLoaderError.corruptPayload(reason: "cannot create a temporary file for \(tool)")
            }
            let stderr = try FileHandle(forWritingTo: errorURL)
            defer { try? stderr.close() }
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = args + [inputURL.path]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            let reader = stdout.fileHandleForReading
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                guard output.count + chunk.count <= outputLimit else {
                    // SIGKILL, not Process.terminate(): the child inherits our threads' blocked
                    // signal mask, so a SIGTERM can stay pending forever while it blocks on
                    // the full pipe. Closing the read end also makes its next write fail.
                    kill(process.processIdentifier, SIGKILL)
                    try? reader.close()
                    process.waitUntilExit()
                    throw LinuxLoaderError.tooLarge(
                        what: "decompressed kernel", size: UInt64(output.count + chunk.count), limit: UInt64(outputLimit))
                }
                output.append(contentsOf: chunk)
            }
            process.waitUntilExit()
        } catch let error as LinuxLoaderError {
            throw error
        } catch {
            throw .corruptPayload(reason: "running \(tool) failed: \(error)")
        }
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
            throw .corruptPayload(
                reason: "\(tool) exited with status \(process.terminationStatus): "
                    + message.trimmingCharacters(in: .whitespacesAndNewlines).prefix(300))
        }
        return output
    }
}
