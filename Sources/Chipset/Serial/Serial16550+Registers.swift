// Register layout of the National Semiconductor PC16550D UART.
// Sources: PC16550D datasheet (National Semiconductor, June 1995), Table II "Summary of
// Registers"; Linux include/uapi/linux/serial_reg.h (names kept verbatim below).
//
//   offset  DLAB=0 read   DLAB=0 write   DLAB=1
//   0       RBR           THR            DLL (divisor latch low)
//   1       IER           IER            DLM (divisor latch high)
//   2       IIR           FCR            (IIR / FCR)
//   3       LCR           LCR
//   4       MCR           MCR
//   5       LSR           (ignored)
//   6       MSR           (ignored)
//   7       SCR           SCR

extension Serial16550 {
    /// Register offsets from the UART's base port.
    enum Register {
        static let RBR: UInt16 = 0  // receive buffer (read), THR transmit holding (write)
        static let IER: UInt16 = 1
        static let IIR: UInt16 = 2  // interrupt identification (read), FCR FIFO control (write)
        static let LCR: UInt16 = 3
        static let MCR: UInt16 = 4
        static let LSR: UInt16 = 5
        static let MSR: UInt16 = 6
        static let SCR: UInt16 = 7
        /// Number of ports the UART decodes.
        static let count: UInt16 = 8
    }

    /// Interrupt enable register bits (only the low four exist on a 16550A).
    enum IER {
        static let ERBFI: UInt8 = 0x01  // received data available (and character timeout)
        static let ETBEI: UInt8 = 0x02  // transmitter holding register empty
        static let ELSI: UInt8 = 0x04  // receiver line status
        static let EDSSI: UInt8 = 0x08  // modem status
        static let implemented: UInt8 = 0x0F
    }

    /// Interrupt identification values, in priority order (highest first).
    enum IIR {
        static let noInterruptPending: UInt8 = 0x01
        static let receiverLineStatus: UInt8 = 0x06
        static let receivedDataAvailable: UInt8 = 0x04
        static let characterTimeout: UInt8 = 0x0C
        static let transmitterEmpty: UInt8 = 0x02
        static let modemStatus: UInt8 = 0x00
        /// Bits 7:6 read 11 when the FIFOs are enabled (what makes Linux say "16550A").
        static let fifosEnabled: UInt8 = 0xC0
    }

    /// FIFO control register bits (write-only, shares the port with IIR).
    enum FCR {
        static let enableFIFO: UInt8 = 0x01
        static let clearReceiver: UInt8 = 0x02
        static let clearTransmitter: UInt8 = 0x04
        static let dmaMode: UInt8 = 0x08
        /// Receiver trigger level in bits 7:6: 1, 4, 8 or 14 bytes.
        static func triggerLevel(_ fcr: UInt8) -> Int {
            switch fcr >> 6 {
            case 0: 1
            case 1: 4
            case 2: 8
            default: 14
            }
        }
    }

    /// Line control register bits.
    enum LCR {
        static let DLAB: UInt8 = 0x80  // divisor latch access
        static let setBreak: UInt8 = 0x40
        static let wordLength8: UInt8 = 0x03
    }

    /// Modem control register bits.
    enum MCR {
        static let DTR: UInt8 = 0x01
        static let RTS: UInt8 = 0x02
        static let OUT1: UInt8 = 0x04
        /// On PC hardware OUT2 gates the UART's interrupt output onto the ISA IRQ line.
        static let OUT2: UInt8 = 0x08
        static let LOOP: UInt8 = 0x10
        static let implemented: UInt8 = 0x1F
    }

    /// Line status register bits.
    enum LSR {
        static let DR: UInt8 = 0x01  // data ready
        static let OE: UInt8 = 0x02  // overrun error
        static let PE: UInt8 = 0x04  // parity error (never set: no line noise here)
        static let FE: UInt8 = 0x08  // framing error (never set)
        static let BI: UInt8 = 0x10  // break interrupt
        static let THRE: UInt8 = 0x20  // transmitter holding register empty
        static let TEMT: UInt8 = 0x40  // transmitter empty
        static let FIFOE: UInt8 = 0x80  // error in receiver FIFO (FIFO mode)
    }

    /// Modem status register bits: deltas in 3:0, current inputs in 7:4.
    enum MSR {
        static let DCTS: UInt8 = 0x01
        static let DDSR: UInt8 = 0x02
        static let TERI: UInt8 = 0x04  // trailing edge of ring indicator
        static let DDCD: UInt8 = 0x08
        static let CTS: UInt8 = 0x10
        static let DSR: UInt8 = 0x20
        static let RI: UInt8 = 0x40
        static let DCD: UInt8 = 0x80
        static let deltas: UInt8 = 0x0F
    }

    /// Depth of each hardware FIFO on a 16550A.
    static let fifoDepth = 16
}
