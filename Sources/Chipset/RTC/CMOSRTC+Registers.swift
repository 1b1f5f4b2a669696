// Register map of the Motorola MC146818A real-time clock and the PC/AT CMOS RAM layout.
// Sources: MC146818A datasheet (Motorola), "Address Map" and registers A-D; Linux
// include/linux/mc146818rtc.h (RTC_* names); IBM PC AT Technical Reference, "CMOS RAM Address
// Map"; QEMU hw/rtc/mc146818rtc.c and hw/i386/pc.c (memory-size bytes, as SeaBIOS reads them).

extension CMOSRTC {
    /// CMOS RAM indexes.
    enum Index {
        static let seconds: UInt8 = 0x00
        static let secondsAlarm: UInt8 = 0x01
        static let minutes: UInt8 = 0x02
        static let minutesAlarm: UInt8 = 0x03
        static let hours: UInt8 = 0x04
        static let hoursAlarm: UInt8 = 0x05
        static let dayOfWeek: UInt8 = 0x06
        static let dayOfMonth: UInt8 = 0x07
        static let month: UInt8 = 0x08
        static let year: UInt8 = 0x09
        static let registerA: UInt8 = 0x0A
        static let registerB: UInt8 = 0x0B
        static let registerC: UInt8 = 0x0C
        static let registerD: UInt8 = 0x0D
        static let diagnosticStatus: UInt8 = 0x0E
        static let shutdownStatus: UInt8 = 0x0F
        static let baseMemoryLow: UInt8 = 0x15  // KiB below 640 KiB
        static let baseMemoryHigh: UInt8 = 0x16
        static let extendedMemoryLow: UInt8 = 0x17  // KiB above 1 MiB, capped at 0xFFFF
        static let extendedMemoryHigh: UInt8 = 0x18
        static let checksumHigh: UInt8 = 0x2E  // sum of 0x10...0x2D
        static let checksumLow: UInt8 = 0x2F
        static let extendedMemoryCopyLow: UInt8 = 0x30  // same value as 0x17/0x18
        static let extendedMemoryCopyHigh: UInt8 = 0x31
        static let century: UInt8 = 0x32  // FADT CENTURY points here
        static let memoryAbove16MLow: UInt8 = 0x34  // 64 KiB units from 16 MiB to the hole
        static let memoryAbove16MHigh: UInt8 = 0x35
        static let memoryAbove4G: UInt8 = 0x5B  // 3 bytes, 64 KiB units above 4 GiB
    }

    /// Index port bit 7 masks NMI; bits 6:0 select the register.
    static let nmiDisable: UInt8 = 0x80

    /// Register A.
    enum RegisterA {
        static let UIP: UInt8 = 0x80  // update in progress: read-only, always 0 here
        /// 32.768 kHz time base (DV = 010), 1024 Hz periodic rate (RS = 0110).
        static let powerOn: UInt8 = 0x26
    }

    /// Register B.
    enum RegisterB {
        static let SET: UInt8 = 0x80  // updates frozen while the guest sets the time
        static let PIE: UInt8 = 0x40
        static let AIE: UInt8 = 0x20
        static let UIE: UInt8 = 0x10
        static let SQWE: UInt8 = 0x08
        static let DM_BINARY: UInt8 = 0x04  // 1 = binary, 0 = BCD
        static let HOURS_24: UInt8 = 0x02  // Linux's rtc-cmos refuses 12-hour mode
        static let DSE: UInt8 = 0x01
        /// 24-hour BCD, no interrupts: what a PC BIOS leaves.
        static let powerOn: UInt8 = HOURS_24
    }

    /// Register C (read-only; reading clears it).
    enum RegisterC {
        static let IRQF: UInt8 = 0x80
        static let PF: UInt8 = 0x40
        static let AF: UInt8 = 0x20
        static let UF: UInt8 = 0x10
    }

    /// Register D: VRT (valid RAM and time). Linux's rtc-cmos insists bit 6 reads 0.
    enum RegisterD {
        static let VRT: UInt8 = 0x80
    }

    /// Hours-register bit 7 in 12-hour mode.
    static let pmBit: UInt8 = 0x80
    /// Alarm bytes with the top two bits set match any value ("don't care").
    static let alarmDontCare: UInt8 = 0xC0
}
