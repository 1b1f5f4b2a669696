import Configuration

/// What a user (or `hvd` itself) asks of a VM.
public enum VMOperation: String, Sendable, CaseIterable {
    case start, stop, turnOff = "turn-off", restart, pause, resume, save, discardSavedState = "discard-saved-state", update, delete
}

/// Hyper-V's VM states and which operation each allows. One table, so every refusal says the
/// same thing the same way: "cannot stop vm1: it is Off (stop needs Running)".
public enum VMStateMachine {
    /// The states an operation may begin from.
    public static func allowedStates(for operation: VMOperation) -> Set<VMState> {
        switch operation {
        case .start: [.off, .saved]
        // A graceful stop of a Paused VM needs `force` (it turns the VM off: the paused guest
        // cannot answer), as Stop-VM turns a paused VM off after confirmation.
        case .stop: [.running, .paused]
        // Turning off interrupts anything a worker is doing, including a graceful stop.
        // Turning off a Saved VM discards its saved state (the VM goes Off).
        case .turnOff: [.running, .starting, .stopping, .paused, .resetting, .saved]
        case .restart: [.running]
        case .pause: [.running]
        case .resume: [.paused]
        case .save: [.running, .paused]
        case .discardSavedState: [.saved]
        case .update: [.off]
        case .delete: [.off, .saved]
        }
    }

    /// The state a VM is in while the operation runs.
    public static func transientState(for operation: VMOperation) -> VMState? {
        switch operation {
        case .start: .starting
        case .stop, .turnOff: .stopping
        case .restart: .resetting
        case .save: .saving
        case .pause, .resume, .discardSavedState, .update, .delete: nil
        }
    }

    /// Refuses an operation the VM's state does not allow.
    /// - Throws: `ServiceError.invalidState` with the state, what the operation needs and a hint.
    public static func check(_ operation: VMOperation, vm: String, state: VMState) throws(ServiceError) {
        let allowed = allowedStates(for: operation)
        guard allowed.contains(state) else {
            let needs = VMState.all.filter(allowed.contains).map(\.rawValue).joined(separator: " or ")
            throw .invalidState(
                "cannot \(operation.rawValue) \(vm): it is \(state) (\(operation.rawValue) needs \(needs))",
                hint: hint(operation, state))
        }
    }

    private static func hint(_ operation: VMOperation, _ state: VMState) -> String? {
        switch (operation, state) {
        case (.update, .saved):
            "it has a saved state: start it (hv vm start NAME) and stop it, or discard the saved state (hv vm discard NAME)"
        case (.discardSavedState, _): "only a Saved VM has a saved state to discard"
        case (.save, .off): "start the VM first: only a running or paused VM can be saved"
        case (.update, _), (.delete, _): "stop the VM first: hv vm stop NAME (or --turn-off)"
        case (.start, .running): "it is already running; hv vm console NAME attaches to it"
        case (.start, .paused): "it is paused: hv vm resume NAME"
        case (.pause, .paused): "it is already paused; hv vm resume NAME lets it run"
        case (.resume, .running): "it is already running"
        case (.restart, .paused): "resume it first (hv vm resume NAME), or turn it off: hv vm stop --turn-off NAME"
        case (.stop, .off), (.turnOff, .off): "it is already off"
        case (.stop, .stopping): "a stop is in progress; hv vm stop --turn-off NAME turns it off now"
        case (_, .starting), (_, .stopping), (_, .resetting): "wait for the current operation to finish (hv vm events NAME)"
        default: nil
        }
    }
}
