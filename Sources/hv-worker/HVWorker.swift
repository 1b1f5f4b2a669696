import Foundation
import Logging
import WorkerCLI

/// The `hv-worker` executable: all behaviour lives in `WorkerCLI`.
@main
struct HVWorker {
    static func main() {
        // Logs go to standard error so standard output carries only the guest console.
        // SWIFTHV_LOG_LEVEL=trace|debug|info|notice|warning|error|critical (default info).
        let level = ProcessInfo.processInfo.environment["SWIFTHV_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        WorkerCommand.main()
    }
}
