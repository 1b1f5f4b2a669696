import Logging
import Synchronization

// PC/AT system control ports. Sources: IBM PC AT Technical Reference ("Port 61h"),
// IBM PS/2 Hardware Interface Technical Reference ("System Control Port A, 92h"); QEMU
// hw/audio/pcspk.c and hw/i386/pc.c (port92) for the emulated behaviour.

/// System Control Port B at 0x61: PIT channel 2 gate (bit 0) and speaker data (bit 1) are
/// stored; bit 4 toggles on every read (the DRAM refresh bit some delay loops watch); bit 5
/// (timer 2 output) follows the gate so loops waiting for it end; NMI status bits read 0.
///
/// With KVM's in-kernel PIT (KVM_CREATE_PIT2) the kernel claims port 0x61 itself and this
/// model is never reached; it serves a VM without it.
public final class SystemControlPortB: PortIODevice {
    public static let port = IOPort(0x61)

    public let name = "port61"
    private let state = Mutex<(value: UInt8, refresh: Bool)>((0, false))

    public init() {}

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        let byte: UInt8 = state.withLock { s in
            s.refresh.toggle()
            var value = s.value & 0x0F
            if s.refresh { value |= 0x10 }
            if s.value & 0x01 != 0 { value |= 0x20 }
            return value
        }
        return (width.allOnes & ~0xFF) | UInt64(byte)
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        state.withLock { $0.value = UInt8(truncatingIfNeeded: value) & 0x0F }
    }
}

/// System Control Port A at 0x92: bit 1 is the fast A20 gate (stored; A20 is always on in a
/// KVM guest), bit 0 set asks for a reset ("fast reset").
public final class SystemControlPortA: PortIODevice {
    public static let port = IOPort(0x92)

    public let name = "port92"
    private let value = Mutex<UInt8>(0x02)
    private let platform: any PlatformControl
    private let logger: Logger

    public init(platform: any PlatformControl, logger: Logger = Logger(label: "swifthv.chipset.port92")) {
        self.platform = platform
        self.logger = logger
    }

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        (width.allOnes & ~0xFF) | UInt64(value.withLock { $0 })
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value newValue: UInt64) {
        let byte = UInt8(truncatingIfNeeded: newValue)
        let reset: Bool = value.withLock { v in
            let fire = v & 0x01 == 0 && byte & 0x01 != 0
            v = byte & 0x02  // bit 0 self-clears once the reset is taken
            return fire
        }
        if reset {
            logger.info("port92: guest requested a fast reset")
            platform.requestStop(.reset)
        }
    }
}

/// A range of ports that exist only so the guest's probes are answered quietly: writes are
/// dropped, reads return `readValue` in every byte (0xFF: nothing there). For ports such as
/// 0xED (Linux's alternative I/O-delay port) that should not show up as unknown in logs.
public final class SilentPorts: PortIODevice {
    public let name: String
    private let readValue: UInt8

    public init(name: String, readValue: UInt8 = 0xFF) {
        self.name = name
        self.readValue = readValue
    }

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        UInt64(readValue) &* (width.allOnes / 0xFF)
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {}
}
