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
            inside the guest (the message names it), 5 the VM was saved (control request save),
            1 the VM could not be built, 130 killed from the console or by a signal.
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

    @Option(
        help: ArgumentHelp(
            "Integration services to offer: a comma list of heartbeat, shutdown, timesync, kvp, or all / none.",
            valueName: "list"))
    var integrationServices: String?

    @Option(
        name: .customLong("disk"),
        help: ArgumentHelp(
            "Attach a disk image (raw or VHDX) to the SCSI controller; repeatable. ro: read-only; lun=N: the LUN (else the lowest free).",
            valueName: "path[,ro][,lun=N]"))
    var disks: [String] = []

    @Flag(help: "Run without the Hyper-V enlightenments and VMBus (a plain PC).")
    var noHyperV = false

    @Option(
        help: ArgumentHelp(
            "A synthetic network adapter on a host TAP interface (repeatable): tap=NAME[,mac=xx:xx:xx:xx:xx:xx].",
            valueName: "spec"))
    var nic: [String] = []

    @Option(help: "When the guest resets: exit (status 3, for a manager to restart it) or restart in place.")
    var onReset: ResetAction = .exit

    @Option(help: "Also write the guest's console output to this file.")
    var consoleLog: String?

    @Option(help: "Start from this saved-state file (made by a save of the same configuration) instead of booting.")
    var restore: String?

    @Option(help: "Where the console's Ctrl-] v saves the VM.")
    var saveFile: String?

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
        if let integrationServices { _ = try Self.parseServices(integrationServices) }
        for spec in nic { _ = try Self.parseNIC(spec) }
        for disk in disks { _ = try Self.parseDisk(disk) }
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
        if let integrationServices { configuration.integrationServices = try Self.parseServices(integrationServices) }
        if noHyperV { configuration.hyperV = false }
        configuration.networkAdapters += try nic.map(Self.parseNIC)
        configuration.disks += try disks.map(Self.parseDisk)
        if let hostProfile, let setting = HostProfileSetting(rawValue: hostProfile) { configuration.hostProfile = setting }
        return configuration
    }

    /// Parses `--nic tap=NAME[,mac=xx:xx:xx:xx:xx:xx]`.
    static func parseNIC(_ spec: String) throws -> NetworkAdapterConfiguration {
        var tap: String?
        var mac: String?
        for part in spec.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { throw ValidationError("--nic \(spec): expected key=value, got \"\(part)\"") }
            switch pair[0] {
            case "tap": tap = pair[1]
            case "mac": mac = pair[1]
            default: throw ValidationError("--nic \(spec): unknown key \"\(pair[0])\" (use tap= and mac=)")
            }
        }
        guard let tap, !tap.isEmpty, tap.utf8.count <= NetworkAdapterConfiguration.maximumTapNameLength else {
            throw ValidationError("--nic \(spec): give tap=NAME (1 to 15 characters)")
        }
        if let mac, MACAddress(mac).map(\.isUnicast) != true {
            throw ValidationError("--nic \(spec): \"\(mac)\" is not a unicast MAC address (xx:xx:xx:xx:xx:xx)")
        }
        return NetworkAdapterConfiguration(tap: tap, macAddress: mac)
    }

    /// Parses `--disk path[,ro][,lun=N]`.
    static func parseDisk(_ text: String) throws -> DiskAttachment {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard let path = parts.first, !path.isEmpty else { throw ValidationError("--disk needs an image path: --disk PATH[,ro][,lun=N]") }
        var attachment = DiskAttachment(path: path)
        for option in parts.dropFirst() {
            if option == "ro" {
                attachment.readOnly = true
            } else if option.hasPrefix("lun="), let lun = UInt8(option.dropFirst(4)), lun <= DiskAttachment.maximumLUN {
                attachment.lun = lun
            } else {
                throw ValidationError(
                    "--disk \(text): unknown option '\(option)'; use ro and lun=N (0...\(DiskAttachment.maximumLUN))")
            }
        }
        return attachment
    }

    /// Parses `--integration-services`: names are enabled, the rest disabled.
    static func parseServices(_ list: String) throws -> IntegrationServices {
        let names = Set(list.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        if names == ["all"] { return IntegrationServices() }
        if names == ["none"] {
            return IntegrationServices(heartbeat: false, shutdown: false, timeSync: false, keyValueExchange: false)
        }
        let known: Set<String> = ["heartbeat", "shutdown", "timesync", "kvp"]
        let unknown = names.subtracting(known)
        guard unknown.isEmpty else {
            throw ValidationError(
                "unknown integration service \(unknown.sorted().joined(separator: ", ")): use heartbeat, shutdown, timesync, kvp, all or none")
        }
        return IntegrationServices(
            heartbeat: names.contains("heartbeat"), shutdown: names.contains("shutdown"),
            timeSync: names.contains("timesync"), keyValueExchange: names.contains("kvp"))
    }

    public func run() throws {
        let configuration = try vmConfiguration()
        if controlSocket != nil { WorkerControlServer.detachFromParentSession() }
        let console = ConsoleBroadcaster(base: ConsoleOutput(logPath: consoleLog))
        let terminal = TerminalMode()
        defer { terminal.restore() }
        if terminal.isRaw { WorkerLog.say(ConsoleEscape.helpText) }
        let session = ConsoleSession(savePath: saveFile)
        session.startInputRelay()
        let signalSources = session.installSignalHandlers()
        defer { withExtendedLifetime(signalSources) {} }

        var control: WorkerControlServer?
        /// Ends the worker: the exit record for hvd, the sentence for the person, the status
        /// (thrown when it is not 0).
        func finish(_ outcome: WorkerOutcome, record: WorkerExitRecord) throws {
            terminal.restore()
            if let controlSocket { WorkerControlServer.recordExit(socketPath: controlSocket, record) }
            WorkerLog.say("\(configuration.name): \(outcome.message)")
            if outcome.exitCode != 0 { throw ExitCode(outcome.exitCode) }
        }

        var boots = 0
        var restoreFrom = restore
        while true {
            boots += 1
            let vm: VMInstance
            do {
                let saved = try restoreFrom.map { path throws(SavedStateError) in try SavedStateFile.open(path) }
                restoreFrom = nil  // a reset after a restore boots afresh
                vm = try VMInstance(configuration: configuration, console: console, restoring: saved)
                if let control {
                    control.attach(vm)
                } else {
                    control = try controlSocket.map { try WorkerControlServer(socketPath: $0, vm: vm, console: console) }
                }
            } catch {
                try finish(
                    WorkerOutcome(message: "cannot start: \(error)", exitCode: 1),
                    record: .init(reason: "buildFailed", message: "\(error)", exitCode: 1))
                return
            }
            session.attach(vm)
            WorkerLog.say(
                "\(boots == 1 ? (restore == nil ? "starting" : "restoring") : "restarting") \(configuration.name): \(configuration.cpus) vCPU, \(configuration.memoryMiB) MiB, host profile \(vm.hostProfile)"
            )
            let reason: StopReason
            do {
                reason = try vm.run()
            } catch {
                try finish(
                    WorkerOutcome(message: "\(error)", exitCode: 1),
                    record: .init(reason: "error", message: "\(error)", exitCode: 1))
                return
            }
            if reason == .reset, onReset == .restart, !session.killedByUser {
                WorkerLog.say("\(configuration.name): the guest reset; restarting it (--on-reset restart)")
                continue
            }
            let outcome = WorkerOutcome(reason, killedByUser: session.killedByUser)
            try finish(outcome, record: outcome.exitRecord(reason))
            return
        }
    }
}

/// What the worker does when the guest resets.
enum ResetAction: String, ExpressibleByArgument, CaseIterable {
    /// Exit with status 3; the manager (hvd) decides whether to start the VM again.
    case exit
    /// Rebuild the VM and boot it again in this process, as a reboot on real hardware.
    case restart
}
