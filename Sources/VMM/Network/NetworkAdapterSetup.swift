import Configuration
import SyntheticDevices
import VMBus

/// One network adapter to offer: its MAC and its opened backend.
public struct NetworkAdapterSetup: Sendable {
    public let macAddress: MACAddress
    public let backend: any PacketBackend

    public init(macAddress: MACAddress, backend: any PacketBackend) {
        self.macAddress = macAddress
        self.backend = backend
    }

    /// A stable VMBus instance GUID: "NIC", the adapter index, then the MAC.
    func instanceID(index: Int) -> GUID {
        GUID(wireBytes: [0x4E, 0x49, 0x43, UInt8(truncatingIfNeeded: index), 0, 0, 0, 0, 0, 0] + macAddress.bytes)
    }

    /// Opens a TAP backend for each configured adapter.
    /// - Throws: `VMBuildError` naming the interface and how to make it usable.
    static func open(_ configuration: VMConfiguration) throws(VMBuildError) -> [NetworkAdapterSetup] {
        var setups: [NetworkAdapterSetup] = []
        for (index, adapter) in configuration.networkAdapters.enumerated() {
            guard let mac = adapter.effectiveMACAddress(vmName: configuration.name, index: index) else {
                setups.forEach { $0.backend.stop() }
                throw .step("configure network adapter \(index)", NetworkSetupError.invalidMAC(adapter.macAddress ?? ""))
            }
            do {
                setups.append(NetworkAdapterSetup(macAddress: mac, backend: try TAPBackend(name: adapter.tap)))
            } catch {
                setups.forEach { $0.backend.stop() }
                throw .step("open TAP interface \(adapter.tap)", NetworkSetupError.tapUnavailable(adapter.tap, "\(error)"))
            }
        }
        return setups
    }
}

/// Why a network adapter could not be set up.
enum NetworkSetupError: Error, Sendable, CustomStringConvertible {
    case invalidMAC(String)
    case tapUnavailable(String, String)
    case needsHyperV

    var description: String {
        switch self {
        case .invalidMAC(let text): "invalid MAC address \"\(text)\""
        case .tapUnavailable(let name, let why):
            "\(why); run as root, or create the interface for your user first: "
                + "sudo ip tuntap add dev \(name) mode tap user $USER && sudo ip link set \(name) up"
        case .needsHyperV: "synthetic network adapters need the Hyper-V enlightenments (hyperV: true)"
        }
    }
}
