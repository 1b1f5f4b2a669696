import Configuration
import VMM

extension WorkerOutcome {
    /// The exit record for `hvd` (`WorkerExitRecord.reason` names the `StopReason` case).
    func exitRecord(_ reason: StopReason) -> WorkerExitRecord {
        let name: String
        switch reason {
        case .powerOff: name = "powerOff"
        case .reset: name = "reset"
        case .stopRequested: name = "stopRequested"
        case .error: name = "error"
        case .saved: name = "saved"
        }
        return WorkerExitRecord(reason: name, message: message, exitCode: exitCode)
    }
}
