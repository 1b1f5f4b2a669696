// PCI configuration mechanism #1 and the type-0 configuration header.
// Sources: PCI Local Bus Specification 3.0, section 3.2.2.3.2 "Software Generation of
// Configuration Transactions" (CONFIG_ADDRESS at 0xCF8, CONFIG_DATA at 0xCFC) and 6.1
// "Configuration Space Organization"; Intel 82441FX (440FX) PMC datasheet for the host
// bridge's identity; Intel I/O Controller Hub datasheets for the Reset Control register at
// 0xCF9 (bit 1 SYS_RST, bit 2 RST_CPU, bit 3 FULL_RST).
//
//   CONFIG_ADDRESS  bit 31 enable | 23:16 bus | 15:11 device | 10:8 function | 7:2 register

extension PCIHostBridge {
    /// First port of the configuration mechanism (CONFIG_ADDRESS).
    public static let basePort = IOPort(0xCF8)
    /// 0xCF8-0xCFF.
    public static let portCount: UInt16 = 8

    enum Offset {
        static let address: UInt16 = 0  // 0xCF8, dword accesses only
        static let resetControl: UInt16 = 1  // 0xCF9, byte accesses only
        static let data: UInt16 = 4  // 0xCFC-0xCFF
    }

    enum ConfigAddress {
        static let enable: UInt32 = 0x8000_0000
        /// Bits kept by the register: enable, bus, device, function, dword register.
        static let implemented: UInt32 = 0x80FF_FFFC
    }

    enum ResetControl {
        static let SYS_RST: UInt8 = 0x02
        static let RST_CPU: UInt8 = 0x04
        static let FULL_RST: UInt8 = 0x08
        static let stored: UInt8 = SYS_RST | FULL_RST
    }
}

/// Offsets in the type-0 configuration header.
public enum PCIConfigRegister {
    public static let vendorID: UInt8 = 0x00
    public static let deviceID: UInt8 = 0x02
    public static let command: UInt8 = 0x04
    public static let status: UInt8 = 0x06
    public static let revisionID: UInt8 = 0x08
    public static let progIF: UInt8 = 0x09
    public static let subclass: UInt8 = 0x0A
    public static let classCode: UInt8 = 0x0B
    public static let cacheLineSize: UInt8 = 0x0C
    public static let latencyTimer: UInt8 = 0x0D
    public static let headerType: UInt8 = 0x0E
    public static let subsystemVendorID: UInt8 = 0x2C
    public static let subsystemID: UInt8 = 0x2E
    public static let interruptLine: UInt8 = 0x3C
    public static let interruptPin: UInt8 = 0x3D
}

/// Identity of the Intel 82441FX PMC (440FX host bridge), as QEMU's `pc` machine presents it.
enum I440FX {
    static let vendorID: UInt16 = 0x8086
    static let deviceID: UInt16 = 0x1237
    static let revision: UInt8 = 0x02
    static let classHostBridge: UInt8 = 0x06
    static let subclassHostBridge: UInt8 = 0x00
    /// Memory space + bus master.
    static let command: UInt16 = 0x0006
    /// Fast back-to-back capable, medium DEVSEL timing.
    static let status: UInt16 = 0x0280
}
