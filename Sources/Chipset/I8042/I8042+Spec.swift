// Intel 8042 keyboard controller ("i8042") and the AT/PS/2 keyboard command set.
// Sources: IBM PC AT Technical Reference (1984), "Keyboard Controller"; Linux
// drivers/input/serio/i8042.h and include/linux/libps2.h, drivers/input/keyboard/atkbd.c
// (names kept from there); QEMU hw/input/pckbd.c for the post-BIOS defaults.

extension I8042 {
    /// Status register bits (read from port 0x64).
    enum Status {
        static let OBF: UInt8 = 0x01  // output buffer full: a byte waits at port 0x60
        static let IBF: UInt8 = 0x02  // input buffer full: never set, writes complete at once
        static let SYS: UInt8 = 0x04  // system flag, mirrors CTR bit 2 (POST passed)
        static let CMD: UInt8 = 0x08  // the last write went to port 0x64
        static let KEYLOCK: UInt8 = 0x10  // 1 = keyboard not inhibited by the key lock
        static let AUXDATA: UInt8 = 0x20  // the byte in the output buffer came from the aux port
        static let TIMEOUT: UInt8 = 0x40
        static let PARITY: UInt8 = 0x80
    }

    /// Controller configuration byte ("command byte", RAM byte 0) bits.
    enum CTR {
        static let KBDINT: UInt8 = 0x01  // IRQ 1 on keyboard data
        static let AUXINT: UInt8 = 0x02  // IRQ 12 on aux data
        static let SYS: UInt8 = 0x04
        static let IGNKEYLOCK: UInt8 = 0x08
        static let KBDDIS: UInt8 = 0x10
        static let AUXDIS: UInt8 = 0x20
        static let XLATE: UInt8 = 0x40  // translate set 2 scan codes to set 1
        /// What a PC BIOS leaves behind: keyboard IRQ on, POST passed, translation on,
        /// aux port disabled (this platform has no mouse).
        static let postBIOSDefault: UInt8 = KBDINT | SYS | XLATE | AUXDIS
    }

    /// Controller commands written to port 0x64.
    enum Command {
        static let readRAMFirst: UInt8 = 0x20  // 0x20-0x3F: read RAM byte n (0x20 = CTR)
        static let readRAMLast: UInt8 = 0x3F
        static let writeRAMFirst: UInt8 = 0x60  // 0x60-0x7F: write RAM byte n (next data byte)
        static let writeRAMLast: UInt8 = 0x7F
        static let auxDisable: UInt8 = 0xA7
        static let auxEnable: UInt8 = 0xA8
        static let auxTest: UInt8 = 0xA9  // -> 0x00
        static let selfTest: UInt8 = 0xAA  // -> 0x55
        static let keyboardTest: UInt8 = 0xAB  // -> 0x00
        static let keyboardDisable: UInt8 = 0xAD
        static let keyboardEnable: UInt8 = 0xAE
        static let readInputPort: UInt8 = 0xC0
        static let readOutputPort: UInt8 = 0xD0
        static let writeOutputPort: UInt8 = 0xD1
        static let writeKeyboardOutput: UInt8 = 0xD2
        static let writeAuxOutput: UInt8 = 0xD3  // Linux's I8042_CMD_AUX_LOOP
        static let writeToAux: UInt8 = 0xD4
        static let disableA20: UInt8 = 0xDD
        static let enableA20: UInt8 = 0xDF
        /// 0xF0-0xFF pulse output-port lines whose bit is 0; bit 0 is the CPU reset line.
        static let pulseFirst: UInt8 = 0xF0
    }

    /// Controller replies.
    enum Reply {
        static let selfTestPassed: UInt8 = 0x55
        static let interfaceTestPassed: UInt8 = 0x00
    }

    /// Output port bits.
    enum OutputPort {
        static let resetDeasserted: UInt8 = 0x01  // writing 0 here resets the CPU
        static let a20: UInt8 = 0x02
        static let initial: UInt8 = resetDeasserted | a20
    }

    /// Keyboard commands (written to port 0x60) and replies (libps2.h / atkbd.c).
    enum Keyboard {
        static let setLEDs: UInt8 = 0xED
        static let echo: UInt8 = 0xEE
        static let scanCodeSet: UInt8 = 0xF0
        static let getID: UInt8 = 0xF2
        static let setRate: UInt8 = 0xF3
        static let enable: UInt8 = 0xF4
        static let resetDisable: UInt8 = 0xF5
        static let resetEnable: UInt8 = 0xF6
        static let resend: UInt8 = 0xFE
        static let reset: UInt8 = 0xFF

        static let ack: UInt8 = 0xFA
        static let nak: UInt8 = 0xFE
        static let batPassed: UInt8 = 0xAA
        static let echoReply: UInt8 = 0xEE
        /// MF2 keyboard ID, untranslated and as translated by the controller.
        static let idFirst: UInt8 = 0xAB
        static let idSecondRaw: UInt8 = 0x83
        static let idSecondTranslated: UInt8 = 0x41
    }

    /// Depth of the output queue. Linux's i8042_flush gives up after 16 bytes
    /// (I8042_BUFFER_SIZE), so never hold more.
    static let outputQueueDepth = 16
}
