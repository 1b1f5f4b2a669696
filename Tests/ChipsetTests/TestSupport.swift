import Chipset
import Synchronization

/// An interrupt line that records every level change.
final class RecordingInterruptLine: InterruptLine {
    private let levels = Mutex<[Bool]>([])
    func setLevel(_ asserted: Bool) { levels.withLock { $0.append(asserted) } }
    /// Every level set, in order.
    var history: [Bool] { levels.withLock { $0 } }
    /// The current level (false before any change).
    var isAsserted: Bool { levels.withLock { $0.last ?? false } }
    /// Number of low-to-high transitions (what an edge-triggered pin sees).
    var risingEdges: Int {
        levels.withLock { h in
            var previous = false
            var edges = 0
            for level in h {
                if level && !previous { edges += 1 }
                previous = level
            }
            return edges
        }
    }
}

/// A platform control that records stop requests.
final class RecordingPlatformControl: PlatformControl {
    private let recorded = Mutex<[PlatformStopRequest]>([])
    func requestStop(_ request: PlatformStopRequest) { recorded.withLock { $0.append(request) } }
    var requests: [PlatformStopRequest] { recorded.withLock { $0 } }
}

/// A serial sink that keeps everything written.
final class RecordingSerialOutput: SerialOutput {
    private let bytes = Mutex<[UInt8]>([])
    func write(_ data: [UInt8]) { bytes.withLock { $0.append(contentsOf: data) } }
    var written: [UInt8] { bytes.withLock { $0 } }
}

/// Byte-wide port helpers, as the guest's `inb`/`outb`.
extension PortIODevice {
    func inb(_ offset: UInt16) -> UInt8 { UInt8(truncatingIfNeeded: ioRead(offset: offset, width: .byte)) }
    func outb(_ offset: UInt16, _ value: UInt8) { ioWrite(offset: offset, width: .byte, value: UInt64(value)) }
}

/// A small deterministic generator for fuzz-style tests (xorshift64*).
struct TestRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(max(1, bound))) }
}

/// Every access width, for hostile-access loops.
let allWidths = AccessWidth.allCases
