import ArgumentParser

/// `hv vm pause NAME…` (Suspend-VM): the guest's vCPUs stop; memory and devices stay.
public struct VMPause: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Pause running VMs (their vCPUs stop; hv vm resume continues them).")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.pause($1) } }
}

/// `hv vm resume NAME…` (Resume-VM).
public struct VMResume: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "resume", abstract: "Resume paused VMs.")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.resume($1) } }
}
