import Foundation

/// The worker's own messages: on standard error, prefixed, each on a fresh line (the guest
/// console may have left the cursor mid-line; in raw mode a bare "\n" would not return it).
enum WorkerLog {
    static func say(_ message: String) {
        FileHandle.standardError.write(Data("\r\nhv-worker: \(message)\r\n".utf8))
    }
}
