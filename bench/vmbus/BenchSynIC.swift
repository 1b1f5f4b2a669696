import Dispatch
import HyperV
import Synchronization

/// The SynIC as the bench's guest sees it: replies the host posts are kept for the guest
/// driver to take; channel events (host → guest interrupts) wake the guest's ring reader or
/// blocked writer through a semaphore.
final class BenchSynIC: SynICMessagePort {
    private let messages = Mutex<[[UInt8]]>([])
    /// One signal per host → guest event.
    let events = DispatchSemaphore(value: 0)
    let eventCount = Atomic<UInt64>(0)

    func postMessage(vp: UInt32, sint: UInt8, messageType: UInt32, payload: [UInt8]) {
        messages.withLock { $0.append(payload) }
    }

    func signalEvent(vp: UInt32, sint: UInt8, flag: UInt32) {
        eventCount.add(1, ordering: .relaxed)
        events.signal()
    }

    /// Removes and returns every message posted so far.
    func takeMessages() -> [[UInt8]] { messages.withLock { m in defer { m = [] }; return m } }
}

/// Little-endian message building and reading for the guest side, independent of the host's
/// wire code (as in Tests/VMBusTestSupport).
struct Bytes {
    var data: [UInt8]
    init(count: Int) { data = [UInt8](repeating: 0, count: count) }
    init(_ data: [UInt8]) { self.data = data }

    mutating func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        let size = MemoryLayout<T>.size
        if data.count < offset + size { data += [UInt8](repeating: 0, count: offset + size - data.count) }
        for i in 0..<size { data[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    func get<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset + size <= data.count else { return 0 }
        var value: T = 0
        for i in 0..<size { value |= T(data[offset + i]) << (8 * i) }
        return value
    }

    func u8(_ o: Int) -> UInt8 { get(UInt8.self, at: o) }
    func u16(_ o: Int) -> UInt16 { get(UInt16.self, at: o) }
    func u32(_ o: Int) -> UInt32 { get(UInt32.self, at: o) }
    func u64(_ o: Int) -> UInt64 { get(UInt64.self, at: o) }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
