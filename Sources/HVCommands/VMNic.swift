import ArgumentParser
import Configuration
import HVClient

/// `hv vm nic add|remove|list` (Add-/Remove-/Get-VMNetworkAdapter; virsh domiflist).
public struct VMNic: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nic", abstract: "Add, remove and list a VM's network adapters (Off or Running: hot-add and hot-remove).",
        subcommands: [VMNicAdd.self, VMNicRemove.self, VMNicList.self])
    public init() {}
}

/// `hv vm nic add VM --tap NAME [--mac M]`.
public struct VMNicAdd: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a synthetic network adapter on a host TAP interface.",
        discussion: "Without --mac the adapter gets a stable address in Hyper-V's 00:15:5d range, kept from then on.")
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Option(help: "The host TAP interface (at most 15 bytes).") var tap: String
    @Option(help: "The guest's MAC address, xx:xx:xx:xx:xx:xx.") var mac: String?
    public init() {}

    public func validate() throws {
        if let mac, MACAddress(mac) == nil { throw ValidationError("--mac \(mac) is not a MAC address like 00:15:5d:01:02:03") }
    }

    public func run() throws {
        try reporting {
            let adapter = try connection.client.addNetworkAdapter(vm, NetworkAdapterConfiguration(tap: tap, macAddress: mac))
            if output.json { try printJSON(adapter) } else { print("added adapter \(adapter.index) to \(vm): \(adapter.macAddress) on TAP \(adapter.tap)") }
        }
    }
}

/// `hv vm nic remove VM INDEX|MAC…`.
public struct VMNicRemove: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove network adapters by MAC address or index.",
        discussion: "Removing an adapter moves the later ones up one index; MAC addresses do not change.", aliases: ["rm"])
    @OptionGroup var connection: Flags.Connection
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Argument(help: "MAC addresses or indexes (hv vm nic list shows them).") var adapters: [String]
    public init() {}

    public func validate() throws {
        if adapters.count > 1 && adapters.contains(where: { MACAddress($0) == nil }) {
            throw ValidationError("name several adapters by MAC address: indexes move when an adapter is removed")
        }
    }

    public func run() throws {
        try reporting {
            for adapter in adapters {
                try connection.client.removeNetworkAdapter(vm, adapter)
                print("removed adapter \(adapter) from \(vm)")
            }
        }
    }
}

/// `hv vm nic list VM`.
public struct VMNicList: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "list", abstract: "List a VM's network adapters.", aliases: ["ls"])
    @OptionGroup var connection: Flags.Connection
    @OptionGroup var output: Flags.Output
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    public init() {}

    public func run() throws {
        try reporting {
            let adapters = try connection.client.networkAdapters(vm)
            if output.json { return try printJSON(adapters) }
            print(adapterTable(adapters).render())
        }
    }
}

func adapterTable(_ adapters: [VMNetworkAdapterInfo]) -> Table {
    var table = Table(["INDEX", "MAC", "TAP"])
    table.rows = adapters.map { ["\($0.index)", $0.macAddress, $0.tap] }
    return table
}
