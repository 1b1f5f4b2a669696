import Synchronization

/// The POST diagnostic port 0x80. Writes are remembered (firmware progress codes; Linux also
/// writes here for I/O delays, `io_delay=0x80`, so this path is lock-free and silent); reads
/// return the last code written, 0xFF before any.
public final class PostCodePort: PortIODevice {
    public static let port = IOPort(0x80)

    public let name = "post"
    private let last = Atomic<UInt8>(0xFF)

    public init() {}

    /// The last code the guest wrote.
    public var lastCode: UInt8 { last.load(ordering: .relaxed) }

    public func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 {
        (width.allOnes & ~0xFF) | UInt64(last.load(ordering: .relaxed))
    }

    public func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        last.store(UInt8(truncatingIfNeeded: value), ordering: .relaxed)
    }
}
