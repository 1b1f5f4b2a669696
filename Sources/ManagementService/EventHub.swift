import Configuration
import Foundation
import Synchronization

/// Fans new events out to live subscribers (the server-sent-events streams).
///
/// ## Concurrency model
/// A `Mutex` guards the subscriber table; each subscriber has a bounded queue and a semaphore,
/// drained by its own connection thread. A subscriber that falls 1,000 events behind is closed
/// (it can reconnect with Last-Event-ID and read the log).
public final class EventHub: Sendable {
    public final class Subscription: Sendable {
        private let queue = Mutex<(events: [VMEvent], closed: Bool)>(([], false))
        private let ready = DispatchSemaphore(value: 0)

        func push(_ event: VMEvent) {
            let ok = queue.withLock { q -> Bool in
                if q.closed { return false }
                if q.events.count >= 1000 { q.closed = true } else { q.events.append(event) }
                return true
            }
            if ok { ready.signal() }
        }

        /// The next event; nil on timeout (the caller sends a keep-alive) or when closed.
        public func next(timeoutSeconds: Double) -> (event: VMEvent?, closed: Bool) {
            _ = ready.wait(timeout: .now() + timeoutSeconds)
            return queue.withLock { q in
                if q.closed { return (nil, true) }
                if q.events.isEmpty { return (nil, false) }
                return (q.events.removeFirst(), false)
            }
        }
    }

    private let subscribers = Mutex<[ObjectIdentifier: Subscription]>([:])
    public init() {}

    public func subscribe() -> Subscription {
        let s = Subscription()
        subscribers.withLock { $0[ObjectIdentifier(s)] = s }
        return s
    }

    public func unsubscribe(_ s: Subscription) { _ = subscribers.withLock { $0.removeValue(forKey: ObjectIdentifier(s)) } }

    public func publish(_ event: VMEvent) {
        for s in subscribers.withLock({ Array($0.values) }) { s.push(event) }
    }
}
