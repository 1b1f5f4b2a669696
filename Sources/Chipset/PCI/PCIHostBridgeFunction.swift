import Synchronization

/// Function 00:00.0: an Intel 440FX host bridge (8086:1237, class 06/00/00, header type 0,
/// single function). Its command and latency registers, and the chipset registers at
/// 0x40-0xFF, read back what the guest writes; nothing else changes.
public final class PCIHostBridgeFunction: PCIConfigDevice {
    public let name = "i440fx"
    private let space: Mutex<PCIConfigSpace>

    public init() {
        var s = PCIConfigSpace()
        s.set16(PCIConfigRegister.vendorID, I440FX.vendorID)
        s.set16(PCIConfigRegister.deviceID, I440FX.deviceID)
        s.set16(PCIConfigRegister.command, I440FX.command)
        s.set16(PCIConfigRegister.status, I440FX.status)
        s.set8(PCIConfigRegister.revisionID, I440FX.revision)
        s.set8(PCIConfigRegister.subclass, I440FX.subclassHostBridge)
        s.set8(PCIConfigRegister.classCode, I440FX.classHostBridge)
        s.allowWrites(PCIConfigRegister.command, mask: 0x47)  // I/O, memory, master, parity, ...
        s.allowWrites(PCIConfigRegister.command + 1, mask: 0x01)  // SERR#
        s.allowWrites(PCIConfigRegister.latencyTimer, mask: 0xFF)
        for offset in 0x40...0xFF { s.allowWrites(UInt8(offset), mask: 0xFF) }
        space = Mutex(s)
    }

    public func configRead(offset: UInt8) -> UInt32 { space.withLock { $0.read32(offset) } }

    public func configWrite(offset: UInt8, value: UInt32, byteMask: UInt8) {
        space.withLock { $0.write32(offset, value: value, byteMask: byteMask) }
    }
}
