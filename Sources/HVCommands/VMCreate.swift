import ArgumentParser
import Configuration
import Foundation
import HVClient

/// `hv vm create NAME --kernel K [--initrd I] [--cmdline …] [--memory MiB] [--cpus N]
/// [--disk PATH[,ro][,lun=N]]… [--nic tap=NAME[,mac=M]]…` (New-VM).
public struct VMCreate: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a VM (it starts Off).")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "The VM's name.") var name: String
    @Option(help: "The guest kernel (absolute path, in a directory hvd allows).") var kernel: String
    @Option(help: "An initramfs.") var initrd: String?
    @Option(help: "The kernel command line (default console=ttyS0).") var cmdline: String?
    @Option(help: "Guest RAM in MiB (default 128).") var memory: UInt64?
    @Option(help: "vCPUs (default 1).") var cpus: Int?
    @Flag(help: "A plain PC without Hyper-V enlightenments.") var noHyperV = false
    @Option(help: "Notes.") var notes: String?
    @Option(help: "Automatic start action: Nothing, StartIfRunning, Start.") var startAction: String?
    @Option(help: "Automatic stop action at host shutdown (hv host stop-vms): TurnOff, Save, ShutDown (default).") var stopAction: String?
    @Option(help: "Recovery action when the worker dies: None, Restart.") var recovery: String?
    @Option(help: ArgumentHelp("A disk: PATH[,ro][,lun=N] (repeatable; raw or VHDX).", valueName: "disk"))
    var disk: [String] = []
    @Option(help: ArgumentHelp("A network adapter: tap=NAME[,mac=M] (repeatable).", valueName: "nic"))
    var nic: [String] = []

    public init() {}

    public func validate() throws {
        if let startAction, AutomaticStartAction(rawValue: startAction) == nil {
            throw ValidationError("--start-action must be one of: \(AutomaticStartAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let stopAction, AutomaticStopAction(rawValue: stopAction) == nil {
            throw ValidationError("--stop-action must be one of: \(AutomaticStopAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let recovery, RecoveryAction(rawValue: recovery) == nil {
            throw ValidationError("--recovery must be one of: \(RecoveryAction.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for text in disk { _ = try DeviceSpec.disk(text) }
        for text in nic { _ = try DeviceSpec.nic(text) }
    }

    /// The request this command sends.
    func request() throws -> CreateVMRequest {
        CreateVMRequest(
            name: name, memoryMiB: memory, cpus: cpus,
            boot: BootRequest(kernel: Self.absolute(kernel), initrd: initrd.map(Self.absolute), cmdline: cmdline),
            hyperV: noHyperV ? false : nil, disks: disk.isEmpty ? nil : try disk.map(DeviceSpec.disk),
            networkAdapters: nic.isEmpty ? nil : try nic.map(DeviceSpec.nic), notes: notes,
            automaticStartAction: startAction.flatMap(AutomaticStartAction.init),
            automaticStopAction: stopAction.flatMap(AutomaticStopAction.init), recoveryAction: recovery.flatMap(RecoveryAction.init))
    }

    /// Relative paths are made absolute against the current directory (hvd needs absolute ones).
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    public func run() throws {
        let request = try request()
        try reporting {
            let vm = try connection.client.createVM(request)
            if output.json { try printJSON(vm) } else { print("created \(vm.name) (\(vm.id))") }
        }
    }
}
