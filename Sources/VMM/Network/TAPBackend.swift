import Foundation
import SocketTransport
import Synchronization
import SyntheticDevices

/// A network adapter backend on a host TAP interface: a reader thread hands each frame the host
/// sends to the interface to the adapter; the adapter's frames are written to the interface.
///
/// ## Concurrency model
/// The reader is one dedicated `Thread` (it blocks in poll(2), so it stays off the Swift
/// concurrency pool). `stop()` sets a flag the thread checks at least every 100 ms and waits for
/// the thread to leave, so `receive` is never called after `stop()` returns. `transmit` may be
/// called from any thread (the TAP descriptor is non-blocking: a full queue drops the frame).
public final class TAPBackend: PacketBackend {
    let interface: TAPInterface
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Mutex(false)

    public var name: String { interface.name }

    /// Opens (creating if needed) the TAP interface `name`.
    /// - Throws: `SocketError`.
    public init(name: String) throws {
        interface = try TAPInterface.open(name: name)
    }

    public func start(receive: @escaping @Sendable ([UInt8]) -> Void) {
        let already = started.withLock { started in
            defer { started = true }
            return started
        }
        guard !already else { return }
        let interface = self.interface
        let thread = Thread { [self] in
            while !stopping.load(ordering: .acquiring) {
                do {
                    if let frame = try interface.read(timeoutMilliseconds: 100) { receive(frame) }
                } catch {
                    // The interface went away (deleted under us); nothing more will arrive.
                    break
                }
            }
            finished.signal()
        }
        thread.name = "tap-\(interface.name)"
        thread.start()
    }

    public func transmit(_ frame: [UInt8]) -> Bool { interface.write(frame) }

    public func stop() {
        guard started.withLock({ $0 }), !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        finished.wait()
    }
}
