import CKVM

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

private final class ThreadBox {
    let name: String
    let body: () -> Void
    init(_ name: String, _ body: @escaping () -> Void) {
        self.name = name
        self.body = body
    }
}

/// A joinable pthread started by `spawnThread`.
public struct SpawnedThread: Sendable {
    /// The pthread id (for kicks).
    public let id: pthread_t

    /// `pthread_join`: waits for the thread to finish. Call at most once.
    public func join() { _ = pthread_join(id, nil) }

    /// `pthread_detach`: the thread's resources go when it ends; do not join it afterwards.
    public func detach() { _ = pthread_detach(id) }
}

/// Starts a pthread (not a Swift concurrency thread: `KVM_RUN` blocks) and transfers ownership
/// of `body` and everything it captured to it (`sending`, STYLE 8.4).
/// - Parameter name: the thread name (at most 15 bytes are kept).
public func spawnThread(name: String, _ body: sending @escaping () -> Void) -> SpawnedThread {
    // SAFETY: the one hand-off of a retained box to the new thread, which takes it back once.
    let box = Unmanaged.passRetained(ThreadBox(name, body)).toOpaque()
    var tid = pthread_t()
    let rc = pthread_create(
        &tid, nil,
        { raw in
            guard let raw else { return nil }
            let box = Unmanaged<ThreadBox>.fromOpaque(raw).takeRetainedValue()
            _ = ckvm_pthread_setname(String(box.name.utf8.prefix(15)) ?? "swifthv")
            box.body()
            return nil
        }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return SpawnedThread(id: tid)
}
