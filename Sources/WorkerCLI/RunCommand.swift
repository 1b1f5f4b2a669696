import ArgumentParser
import Configuration
import Foundation
import VMM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `hv-worker run`: boots one VM and wires its serial console to this terminal.
public struct RunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a VM and attach its serial console.",
        discussion: """
            Either --config vm.json, or --kernel with the other flags. On a terminal the console is
            raw: \(ConsoleEscape.helpText)
            Exit status: 0 the guest powered off, 3 the guest reset, 4 the VM stopped on an error
            inside the guest (the message names it), 1 the VM could not be built, 130 killed from
            the console or by a signal.
            """)

    @Option(help: "A VM configuration file (JSON, see docs/worker.md).")
    var config: String?

    @Option(help: "The guest kernel: an ELF vmlinux or a bzImage.")
    var kernel: String?

    @Option(help: "An initramfs.")
    var initrd: String?

    @Option(help: "The kernel command line (the host profile may append to it).")
    var cmdline: String = "console=ttyS0"

    @Option(help: "Guest RAM in MiB.")
    var memory: UInt64 = 128

    @Option(help: "Number of vCPUs.")
    var cpus: Int = 1

    @Option(help: "The VM's name (logs).")
    var name: String = "vm"

    @Option(help: "Host compatibility profile: automatic, off or pvm.")
    var hostProfile: String?

    @Option(help: "Also write the guest's console output to this file.")
    var consoleLog: String?

    @Option(help: "Serve the control channel (hvd) on this Unix socket; the worker becomes a session leader.")
    var controlSocket: String?

    public init() {}

    public func validate() throws {
        if config == nil && kernel == nil {
            throw ValidationError("give --config vm.json, or --kernel (with --initrd, --cmdline, --memory, --cpus)")
        }
        if let hostProfile, HostProfileSetting(rawValue: hostProfile) == nil {
            throw ValidationError("--host-profile must be one of: automatic, off, pvm")
        }
        if config != nil && kernel != nil {
            throw ValidationError("--config and --kernel are exclusive: put the kernel in the configuration file")
        }
    }

    func vmConfiguration() throws -> VMConfiguration {
        var configuration: VMConfiguration
        if let config {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: config))
            } catch {
                throw ValidationError("cannot read \(config): \(error.localizedDescription)")
            }
            do {
                configuration = try JSONDecoder().decode(VMConfiguration.self, from: data)
            } catch {
                throw ValidationError("\(config) is not a valid VM configuration: \(error)")
            }
        } else {
            configuration = VMConfiguration(
                name: name, memoryMiB: memory, cpus: cpus,
                boot: BootSource(kernel: kernel ?? "", initrd: initrd, cmdline: cmdline))
        }
        if let hostProfile, let setting = HostProfileSetting(rawValue: hostProfile) { configuration.hostProfile = setting }
        return configuration
    }

    public func run() throws {
        let configuration = try vmConfiguration()
        if controlSocket != nil { WorkerControlServer.detachFromParentSession() }
        let console = ConsoleBroadcaster(base: ConsoleOutput(logPath: consoleLog))
        let vm: VMInstance
        let control: WorkerControlServer?
        do {
            vm = try VMInstance(configuration: configuration, console: console)
            control = try controlSocket.map { try WorkerControlServer(socketPath: $0, vm: vm, console: console) }
        } catch {
            WorkerLog.say("cannot start \(configuration.name): \(error)")
            if let controlSocket {
                WorkerControlServer.recordExit(socketPath: controlSocket, .init(reason: "buildFailed", message: "\(error)", exitCode: 1))
            }
            throw ExitCode(1)
        }
        WorkerLog.say(
            "starting \(configuration.name): \(configuration.cpus) vCPU, \(configuration.memoryMiB) MiB, host profile \(vm.hostProfile)"
        )
        let terminal = TerminalMode()
        defer { terminal.restore() }
        if terminal.isRaw { WorkerLog.say(ConsoleEscape.helpText) }
        let session = ConsoleSession(vm: vm)
        session.startInputRelay()
        let signalSources = session.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }

        let reason: StopReason
        do {
            reason = try vm.run()
        } catch {
            terminal.restore()
            WorkerLog.say("\(configuration.name): \(error)")
            if let control { WorkerControlServer.recordExit(socketPath: control.paths.controlSocket, .init(reason: "error", message: "\(error)", exitCode: 1)) }
            throw ExitCode(1)
        }
        terminal.restore()
        let outcome = WorkerOutcome(reason, killedByUser: session.killedByUser)
        if let control { WorkerControlServer.recordExit(socketPath: control.paths.controlSocket, outcome.exitRecord(reason)) }
        WorkerLog.say("\(configuration.name): \(outcome.message)")
        if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
    }
}
