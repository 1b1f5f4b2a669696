import Logging
import Synchronization

/// Remembers which keys were already logged, so a guest that hammers an unimplemented feature
/// produces one log line per key, not one per access. Keys come from small fixed sets (MSR
/// indices in a 512-entry range, a handful of reasons), so the set stays bounded.
final class LogOnce<Key: Hashable & Sendable>: Sendable {
    private let seen = Mutex<Set<Key>>([])

    /// True the first time `key` is seen.
    func first(_ key: Key) -> Bool {
        seen.withLock { $0.insert(key).inserted }
    }
}
