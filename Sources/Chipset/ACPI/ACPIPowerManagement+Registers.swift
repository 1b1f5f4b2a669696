// ACPI fixed-hardware power-management registers, as this platform places them.
// Source: ACPI Specification 6.5, section 4.8.3 "PM1 Event Grouping" (PM1 status/enable bits,
// tables 4.16-4.17), 4.8.3.2 "PM1 Control Registers" (table 4.18), 4.8.3.6 "Reset Register";
// Linux/ACPICA include/acpi/actypes.h / hwsleep.c for how a guest drives them.
//
//   I/O port  FADT field          size  contents
//   0x600     PM1a_EVT_BLK + 0    2     PM1_STS (write 1 to clear)
//   0x602     PM1a_EVT_BLK + 2    2     PM1_EN
//   0x604     PM1a_CNT_BLK        2     PM1_CNT (SCI_EN, SLP_TYP, SLP_EN)
//   0x606     -                   2     unused (reads all-ones)
//   0x608     RESET_REG           1     write 0x01 to reset
//
// SCI: IRQ 9, level, active high (MADT interrupt source override).

extension ACPIPowerManagement {
    /// The first port of the block (PM1a_EVT_BLK).
    public static let basePort = IOPort(0x600)
    /// Ports decoded from `basePort`: 0x600-0x608.
    public static let portCount: UInt16 = 9
    /// SCI_INT in the FADT.
    public static let sciIRQ: UInt8 = 9
    /// RESET_VALUE in the FADT.
    public static let resetValue: UInt8 = 0x01
    /// SLP_TYP for S5 (soft off), matching the DSDT's `Name(\_S5, Package(){5,5,0,0})`.
    public static let s5SleepType: UInt16 = 5

    /// Byte offsets from `basePort`.
    enum Offset {
        static let status: UInt16 = 0
        static let enable: UInt16 = 2
        static let control: UInt16 = 4
        static let reset: UInt16 = 8
    }

    /// PM1_STS / PM1_EN bits (the enable bit sits at the same position as its status bit).
    enum PM1Event {
        static let TMR: UInt16 = 1 << 0
        static let BM_STS: UInt16 = 1 << 4
        static let GBL: UInt16 = 1 << 5
        static let PWRBTN: UInt16 = 1 << 8
        static let SLPBTN: UInt16 = 1 << 9
        static let RTC: UInt16 = 1 << 10
        static let PCIEXP_WAKE_DIS: UInt16 = 1 << 14
        static let WAK_STS: UInt16 = 1 << 15
        /// Status bits that can raise the SCI when enabled.
        static let sciSources: UInt16 = TMR | GBL | PWRBTN | SLPBTN | RTC
        static let enableWritable: UInt16 = TMR | GBL | PWRBTN | SLPBTN | RTC | PCIEXP_WAKE_DIS
    }

    /// PM1_CNT bits.
    enum PM1Control {
        static let SCI_EN: UInt16 = 1 << 0  // hardwired 1: the platform is always in ACPI mode
        static let BM_RLD: UInt16 = 1 << 1
        static let GBL_RLS: UInt16 = 1 << 2  // write-only
        static let SLP_TYP_SHIFT: UInt16 = 10
        static let SLP_TYP_MASK: UInt16 = 0x7 << 10
        static let SLP_EN: UInt16 = 1 << 13  // write-only, reads 0
        static let stored: UInt16 = BM_RLD | SLP_TYP_MASK
    }
}
