import ArgumentParser
import Configuration

/// `hv vm stop NAME… [--force | --turn-off] [--timeout S]` (Stop-VM).
public struct VMStop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Shut VMs down through the guest's shutdown service.",
        discussion: "--force turns the VM off when the guest does not stop within the timeout; --turn-off does not ask the guest.")
    @OptionGroup var targets: VMActionTargets
    @Flag(help: "Turn off when the guest cannot be asked or does not stop in time.") var force = false
    @Flag(help: "Turn off now, without asking the guest.") var turnOff = false
    @Option(help: "Seconds to wait for the guest (default 60).") var timeout: Int?
    public init() {}

    public func validate() throws {
        if force && turnOff { throw ValidationError("--force and --turn-off are exclusive") }
        if turnOff && timeout != nil { throw ValidationError("--timeout applies to a graceful stop, not --turn-off") }
        if let timeout, !(0...3600).contains(timeout) { throw ValidationError("--timeout must be within 0...3600") }
    }

    public func run() throws {
        try targets.perform { client, vm in
            turnOff ? try client.turnOff(vm) : try client.stop(vm, StopVMRequest(timeoutSeconds: timeout, force: force))
        }
    }
}
