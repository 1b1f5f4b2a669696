import ArgumentParser

/// `hv vm save NAME…` (Save-VM): the guest's state goes to disk and the VM is Saved; `hv vm
/// start` continues it where it was.
public struct VMSave: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "save", abstract: "Save running or paused VMs (hv vm start continues them; hv vm discard drops the state).")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.save($1) } }
}

/// `hv vm discard NAME…` (Remove-VMSavedState): a Saved VM goes Off; its next start boots afresh.
public struct VMDiscard: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "discard", abstract: "Discard the saved state of saved VMs (they go Off).")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.discardSavedState($1) } }
}
