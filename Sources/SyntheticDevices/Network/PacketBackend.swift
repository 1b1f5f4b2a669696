import Synchronization

/// Where a network adapter's frames go and come from: a TAP interface on the host, or memory
/// in tests and benchmarks.
///
/// ## Concurrency model
/// `start` is called once, before any `transmit`; the backend may call `receive` from any one
/// thread of its own (a reader thread) until `stop` returns. `transmit` is called from the
/// adapter's channel queue and must not block for long.
public protocol PacketBackend: AnyObject, Sendable {
    /// A short description for status reports ("tap0", "memory").
    var name: String { get }
    /// Starts delivering frames from the host side to `receive`.
    func start(receive: @escaping @Sendable ([UInt8]) -> Void)
    /// Sends one Ethernet frame (no FCS) to the host side.
    /// - Returns: false when the frame was dropped.
    func transmit(_ frame: [UInt8]) -> Bool
    /// Stops delivery; `receive` is not called after this returns.
    func stop()
}

/// A backend that keeps the guest's frames in memory and injects host frames on demand.
public final class InMemoryPacketBackend: PacketBackend {
    private struct State {
        var receive: (@Sendable ([UInt8]) -> Void)?
        var transmitted: [[UInt8]] = []
        var keepFrames = true
        var transmittedCount = 0
    }
    private let state = Mutex(State())

    public let name = "memory"

    /// - Parameter keepFrames: whether transmitted frames are kept (benchmarks turn it off and
    ///   only count).
    public init(keepFrames: Bool = true) { state.withLock { $0.keepFrames = keepFrames } }

    public func start(receive: @escaping @Sendable ([UInt8]) -> Void) { state.withLock { $0.receive = receive } }

    public func transmit(_ frame: [UInt8]) -> Bool {
        state.withLock { state in
            state.transmittedCount += 1
            if state.keepFrames { state.transmitted.append(frame) }
        }
        return true
    }

    public func stop() { state.withLock { $0.receive = nil } }

    /// Hands `frame` to the adapter as if it came from the host network.
    public func inject(_ frame: [UInt8]) {
        let receive = state.withLock { $0.receive }
        receive?(frame)
    }

    /// Frames the guest sent so far, removed from the backend.
    public func takeTransmitted() -> [[UInt8]] { state.withLock { s in defer { s.transmitted = [] }; return s.transmitted } }

    /// How many frames the guest sent in all.
    public var transmittedCount: Int { state.withLock { $0.transmittedCount } }
}
