import Logging
import Synchronization

/// PCI configuration mechanism #1 at ports 0xCF8-0xCFF and the registry of PCI functions
/// behind it. Function 00:00.0 is a 440FX host bridge from the start; every address nothing
/// is registered at reads all-ones (no device), which is how Linux's bus scan skips it.
///
/// - 0xCF8 is CONFIG_ADDRESS for dword accesses only (Linux's `pci_check_type1` writes
///   0x80000000 there and reads it back).
/// - 0xCF9, byte-wide, is the Intel Reset Control register: setting RST_CPU asks for a reset
///   (Linux `reboot=pci`).
/// - 0xCFC-0xCFF reach the selected dword with any width at any offset; bytes past 0xCFF
///   read 0xFF and are dropped on write.
///
/// ## Concurrency model
/// A `Mutex` guards CONFIG_ADDRESS and the registry; a function is called after the lock is
/// released (it guards its own state).
public final class PCIHostBridge: PortIODevice {
    struct State {
        var address: UInt32 = 0
        var resetControl: UInt8 = 0
        var functions: [PCIAddress: any PCIConfigDevice] = [:]
    }

    public let name = "pci-cfg"
    let state: Mutex<State>
    private let platform: any PlatformControl
    private let logger: Logger

    /// The address of the built-in host bridge function.
    public static let hostBridgeAddress = PCIAddress(configAddress: 0)

    /// - Parameter platform: receives the reset request from port 0xCF9.
    public init(platform: any PlatformControl, logger: Logger = Logger(label: "swifthv.chipset.pci")) {
        self.platform = platform
        self.logger = logger
        var s = State()
        s.functions[Self.hostBridgeAddress] = PCIHostBridgeFunction()
        self.state = Mutex(s)
    }

    /// Registers the mechanism at 0xCF8-0xCFF.
    public func attach(to bus: PortIOBus) throws(BusError) {
        try bus.register(self, at: Self.basePort, count: Self.portCount)
    }

    /// Places `device` at `address`.
    public func register(_ device: any PCIConfigDevice, at address: PCIAddress) throws(PCIRegistrationError) {
        let existing: String? = state.withLock { s in
            if let other = s.functions[address] { return other.name }
            s.functions[address] = device
            return nil
        }
        if let existing { throw .occupied(address, existing: existing) }
    }

    /// Removes whatever is at `address` (hot-unplug).
    public func unregister(at address: PCIAddress) {
        _ = state.withLock { $0.functions.removeValue(forKey: address) }
    }

    /// The function at `address`, if any.
    public func device(at address: PCIAddress) -> (any PCIConfigDevice)? {
        state.withLock { $0.functions[address] }
    }

    // MARK: PortIODevice

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        switch offset {
        case Offset.address where width == .dword:
            return UInt64(state.withLock { $0.address })
        case Offset.resetControl where width == .byte:
            return UInt64(state.withLock { $0.resetControl })
        case Offset.data..<(Offset.data + 4):
            return readData(lane: Int(offset - Offset.data), width: width)
        default:
            return width.allOnes
        }
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        switch offset {
        case Offset.address where width == .dword:
            state.withLock { $0.address = UInt32(truncatingIfNeeded: value) & ConfigAddress.implemented }
        case Offset.resetControl where width == .byte:
            let byte = UInt8(truncatingIfNeeded: value)
            let reset: Bool = state.withLock { s in
                let fire = s.resetControl & ResetControl.RST_CPU == 0 && byte & ResetControl.RST_CPU != 0
                s.resetControl = byte & ResetControl.stored
                return fire
            }
            if reset {
                logger.info("pci: guest requested a reset through port 0xCF9")
                platform.requestStop(.reset)
            }
        case Offset.data..<(Offset.data + 4):
            writeData(lane: Int(offset - Offset.data), width: width, value: value)
        default:
            break  // e.g. Linux's `outb(0x01, 0xCFB)` probe: no such register here.
        }
    }

    // MARK: Data port

    /// The selected function and dword register, or nil when disabled or empty.
    private func selected() -> (device: any PCIConfigDevice, register: UInt8)? {
        state.withLock { s in
            guard s.address & ConfigAddress.enable != 0 else { return nil }
            guard let device = s.functions[PCIAddress(configAddress: s.address)] else { return nil }
            return (device, UInt8(truncatingIfNeeded: s.address) & 0xFC)
        }
    }

    private func readData(lane: Int, width: AccessWidth) -> UInt64 {
        guard let (device, register) = selected() else { return width.allOnes }
        let dword = device.configRead(offset: register)
        var value: UInt64 = 0
        for i in 0..<width.rawValue {
            let byte: UInt64 = lane + i < 4 ? UInt64((dword >> (8 * UInt32(lane + i))) & 0xFF) : 0xFF
            value |= byte << (8 * UInt64(i))
        }
        return value
    }

    private func writeData(lane: Int, width: AccessWidth, value: UInt64) {
        guard let (device, register) = selected() else { return }
        var dword: UInt32 = 0
        var mask: UInt8 = 0
        for i in 0..<width.rawValue where lane + i < 4 {
            dword |= UInt32((value >> (8 * UInt64(i))) & 0xFF) << (8 * UInt32(lane + i))
            mask |= 1 << (lane + i)
        }
        device.configWrite(offset: register, value: dword, byteMask: mask)
    }
}
