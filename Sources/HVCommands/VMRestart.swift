import ArgumentParser

/// `hv vm restart NAME…` (Restart-VM -Force).
public struct VMRestart: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "restart", abstract: "Turn VMs off and start them again.")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.restart($1) } }
}
