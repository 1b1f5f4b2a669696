import ArgumentParser

/// `hv vm start NAME…` (Start-VM).
public struct VMStart: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "start", abstract: "Start VMs.")
    @OptionGroup var targets: VMActionTargets
    public init() {}

    public func run() throws { try targets.perform { try $0.start($1) } }
}
