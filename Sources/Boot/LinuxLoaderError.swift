import GuestMemory

/// Why a kernel, initrd or command line could not be loaded into a guest.
public enum LinuxLoaderError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file does not exist.
    case fileNotFound(path: String)
    /// The file exists but could not be read.
    case fileUnreadable(path: String, reason: String)
    /// The file (or a decompressed image) is larger than the loader accepts.
    case tooLarge(what: String, size: UInt64, limit: UInt64)
    /// The image is neither an ELF64 x86-64 `vmlinux` nor a bzImage.
    case notAKernel(reason: String)
    /// A bzImage whose boot protocol is older than 2.12.
    case unsupportedBootProtocol(version: UInt16)
    /// The bzImage payload uses a compression this loader cannot undo.
    case unsupportedCompression(String)
    /// The host tool needed to decompress the payload is not installed.
    case decompressorMissing(tool: String)
    /// The payload failed to decompress.
    case corruptPayload(reason: String)
    /// The ELF image is malformed.
    case invalidELF(reason: String)
    /// A PT_LOAD segment does not fit in guest RAM.
    case segmentOutsideRAM(physicalAddress: UInt64, size: UInt64)
    /// A PT_LOAD segment would overwrite the low boot area (below 1 MiB).
    case segmentOverlapsBootArea(physicalAddress: UInt64, size: UInt64)
    /// The ELF entry point is not inside a loaded segment.
    case entryOutsideImage(entry: UInt64)
    /// The initrd does not fit between the kernel and the highest usable address.
    case initrdDoesNotFit(size: UInt64, available: UInt64)
    /// Guest RAM lacks what direct boot needs (low memory, room for the kernel).
    case memoryTooSmall(reason: String)
    /// The command line exceeds the kernel's (or the loader's) limit.
    case commandLineTooLong(length: Int, limit: Int)
    /// The command line contains a NUL byte.
    case commandLineInvalid(reason: String)
    /// Writing guest memory failed (a bug in the layout checks if it ever happens).
    case guestMemory(GuestMemoryError)

    public var description: String {
        switch self {
        case .fileNotFound(let p): "kernel loader: file not found: \(p)"
        case .fileUnreadable(let p, let r): "kernel loader: cannot read \(p): \(r)"
        case .tooLarge(let w, let s, let l): "kernel loader: \(w) is \(s) bytes, more than the limit of \(l)"
        case .notAKernel(let r): "kernel loader: not a Linux kernel image: \(r)"
        case .unsupportedBootProtocol(let v):
            "kernel loader: bzImage boot protocol \(v >> 8).\(v & 0xFF) is older than the required 2.12"
        case .unsupportedCompression(let c): "kernel loader: bzImage payload compression \(c) is not supported"
        case .decompressorMissing(let t): "kernel loader: the payload needs the host tool '\(t)', which is not installed"
        case .corruptPayload(let r): "kernel loader: corrupt or truncated kernel payload: \(r)"
        case .invalidELF(let r): "kernel loader: invalid ELF vmlinux: \(r)"
        case .segmentOutsideRAM(let a, let s):
            "kernel loader: segment of \(s) bytes at 0x\(String(a, radix: 16)) lies outside guest RAM"
        case .segmentOverlapsBootArea(let a, let s):
            "kernel loader: segment of \(s) bytes at 0x\(String(a, radix: 16)) overlaps the boot area below 1 MiB"
        case .entryOutsideImage(let e): "kernel loader: entry point 0x\(String(e, radix: 16)) is not in a loaded segment"
        case .initrdDoesNotFit(let s, let a): "kernel loader: initrd of \(s) bytes does not fit (\(a) bytes available)"
        case .memoryTooSmall(let r): "kernel loader: guest memory too small: \(r)"
        case .commandLineTooLong(let n, let l): "kernel loader: command line is \(n) bytes, limit \(l)"
        case .commandLineInvalid(let r): "kernel loader: invalid command line: \(r)"
        case .guestMemory(let e): "kernel loader: \(e)"
        }
    }
}
