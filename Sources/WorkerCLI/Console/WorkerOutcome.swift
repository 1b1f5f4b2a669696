import VMM

/// How the worker reports a stopped VM: a sentence and an exit status (docs/worker.md).
public struct WorkerOutcome: Sendable, Equatable {
    public let message: String
    public let exitCode: Int32
    /// The exit status of a worker whose VM was saved (Save-VM).
    public static let savedExitCode: Int32 = 5

    /// An outcome that is not a guest stop (the VM could not be built or started).
    public init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    public init(_ reason: StopReason, killedByUser: Bool) {
        switch reason {
        case .powerOff:
            message = "the guest powered off"
            exitCode = 0
        case .reset:
            message = "the guest reset (a restart was requested; the worker stops, its manager restarts it)"
            exitCode = 3
        case .stopRequested:
            message = killedByUser ? "killed from the console or by a signal" : "stopped by the host"
            exitCode = 130
        case .error(let text):
            message = "stopped on an error: \(text)"
            exitCode = 4
        case .saved(let path):
            message = "the VM was saved to \(path) (start it with --restore \(path))"
            exitCode = WorkerOutcome.savedExitCode
        }
    }
}
