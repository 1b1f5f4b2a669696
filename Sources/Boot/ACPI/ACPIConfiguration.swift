/// What the ACPI tables describe. Ports, IRQs and addresses come from the platform layout
/// (`BootLayout`, `ACPIPlatform`); this holds what varies per VM.
public struct ACPIConfiguration: Sendable, Hashable {
    /// Number of vCPUs: one enabled Local APIC (ID = index) each; 1...255.
    public var vcpuCount: Int
    /// The Hyper-V VMBus device (protocol doc §7.1), or `nil` for none.
    public var vmbus: VMBusDevice?
    /// Extra AML terms placed inside `\_SB` (further devices).
    public var additionalDevices: [AMLTerm]
    /// Where the tables go; the RSDP is first, so this must be 16-byte aligned.
    public var baseAddress: UInt64
    /// OEMID in every header (6 characters, space-padded).
    public var oemID: String
    /// OEM Table ID in every header (8 characters, space-padded).
    public var oemTableID: String

    /// The VMBus device: `\_SB.VMOD` (ACPI0004) holding `VMBS` (`_HID "VMBus"`).
    public struct VMBusDevice: Sendable, Hashable {
        /// MMIO ranges handed to VMBus through VMOD's `_CRS` (QWordMemory); empty for none.
        public var mmioRanges: [MMIORange]
        public init(mmioRanges: [MMIORange] = []) { self.mmioRanges = mmioRanges }
    }

    /// A guest-physical MMIO range.
    public struct MMIORange: Sendable, Hashable {
        public var base: UInt64
        public var length: UInt64
        public init(base: UInt64, length: UInt64) {
            self.base = base
            self.length = length
        }
    }

    public init(
        vcpuCount: Int, vmbus: VMBusDevice? = VMBusDevice(), additionalDevices: [AMLTerm] = [],
        baseAddress: UInt64 = BootLayout.acpiAreaStart, oemID: String = "SWFTHV", oemTableID: String = "SWIFTHV"
    ) {
        self.vcpuCount = vcpuCount
        self.vmbus = vmbus
        self.additionalDevices = additionalDevices
        self.baseAddress = baseAddress
        self.oemID = oemID
        self.oemTableID = oemTableID
    }
}

/// The fixed ACPI hardware of the platform layout (shared with Chipset's PM device).
public enum ACPIPlatform {
    /// PM1a event block: status word at 0x600, enable word at 0x602.
    public static let pm1aEventBlock: UInt16 = 0x600
    public static let pm1EventLength: UInt8 = 4
    /// PM1a control block (SCI_EN bit 0, SLP_TYP bits 10-12, SLP_EN bit 13).
    public static let pm1aControlBlock: UInt16 = 0x604
    public static let pm1ControlLength: UInt8 = 2
    /// Reset register (1 byte); writing `resetValue` resets the VM.
    public static let resetRegister: UInt16 = 0x608
    public static let resetValue: UInt8 = 0x01
    /// The SCI is ISA IRQ 9, level-triggered, active high.
    public static let sciInterrupt: UInt16 = 9
    /// The `\_S5` SLP_TYP value (PM1a and PM1b).
    public static let s5SleepType: UInt8 = 5
}

/// Why ACPI tables could not be built.
public enum ACPIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The vCPU count is outside 1...255 (xAPIC IDs are 8-bit).
    case invalidVCPUCount(Int)
    /// The tables do not fit between the base address and the end of the ACPI area.
    case tablesTooLarge(size: Int, available: Int)
    /// The base address is not 16-byte aligned or outside the ACPI area.
    case invalidBaseAddress(UInt64)

    public var description: String {
        switch self {
        case .invalidVCPUCount(let n): "ACPI: \(n) vCPUs is outside the supported 1...255"
        case .tablesTooLarge(let s, let a): "ACPI: tables need \(s) bytes but only \(a) are available"
        case .invalidBaseAddress(let a): "ACPI: base address 0x\(String(a, radix: 16)) is not usable"
        }
    }
}
