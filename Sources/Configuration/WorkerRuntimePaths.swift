/// The files beside a worker's control socket, derived from its path so `hvd` and `hv-worker`
/// agree on them with one argument (`hv-worker run --control-socket PATH`).
public struct WorkerRuntimePaths: Sendable, Equatable {
    public let controlSocket: String
    public init(controlSocket: String) { self.controlSocket = controlSocket }
    /// The worker's pid, written once its socket listens.
    public var pidFile: String { controlSocket + ".pid" }
    /// The `WorkerExitRecord` the worker writes just before it exits.
    public var exitRecord: String { controlSocket + ".exit.json" }
}
