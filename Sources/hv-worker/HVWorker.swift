import WorkerCLI

/// The `hv-worker` executable: all behaviour lives in `WorkerCLI`.
@main
struct HVWorker {
    static func main() {
        WorkerCommand.main()
    }
}
