import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The worker's own messages, on standard error. On a terminal each starts on a fresh line with
/// explicit carriage returns (the guest may have left the cursor mid-line, and in raw mode a bare
/// "\n" does not return it); elsewhere they are plain lines.
enum WorkerLog {
    static let onTerminal = isatty(STDERR_FILENO) == 1

    static func say(_ message: String) {
        let line = onTerminal ? "\r\nhv-worker: \(message)\r\n" : "hv-worker: \(message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
