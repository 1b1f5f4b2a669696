import Dispatch
import Foundation
import Synchronization
import VMM

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Relays the host's standard input to the guest's COM1 (with the Ctrl-] escapes) and turns
/// SIGINT/SIGTERM into a stop of the VM.
///
/// ## Concurrency model
/// The input relay runs on its own thread blocked in `read(2)`; signals arrive on a dispatch
/// queue. Both only call `Sendable` VM entry points; `killedByUser` is an atomic.
final class ConsoleSession: Sendable {
    /// The VM the console talks to; replaced when the worker restarts the guest after a reset.
    private let current = Mutex<VMInstance?>(nil)
    private let killed = Atomic<Bool>(false)

    /// Where Ctrl-] v saves the VM (nil: saving from the console is off).
    private let savePath: String?

    init(savePath: String? = nil) { self.savePath = savePath }

    /// Points the console, signals and status requests at `vm`.
    func attach(_ vm: VMInstance) { current.withLock { $0 = vm } }

    private var vm: VMInstance? { current.withLock { $0 } }

    var killedByUser: Bool { killed.load(ordering: .acquiring) }

    func startInputRelay() {
        let thread = Thread { [self] in relayInput() }
        thread.name = "console-in"
        thread.start()
    }

    private func relayInput() {
        var escape = ConsoleEscape()
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = read(STDIN_FILENO, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }  // EOF or error: the guest keeps running without input
            for action in escape.feed(Array(buffer[0..<n])) {
                switch action {
                case .forward(let bytes):
                    var rest = bytes[...]
                    // The UART buffers a little; wait for the guest to drain it rather than drop.
                    while !rest.isEmpty, let vm {
                        let taken = vm.serial.receive(Array(rest))
                        rest = rest.dropFirst(taken)
                        if !rest.isEmpty { usleep(10_000) }
                    }
                case .sendBreak:
                    vm?.serial.sendBreak()
                case .kill:
                    killed.store(true, ordering: .releasing)
                    vm?.requestStop()
                    return
                case .gracefulShutdown:
                    requestGracefulShutdown()
                case .status:
                    printStatus()
                case .save:
                    guard let vm else { break }
                    guard let savePath else {
                        WorkerLog.say("saving needs --save-file PATH on the worker's command line")
                        break
                    }
                    do {
                        try vm.save(to: savePath)
                        vm.stopAsSaved(savePath)
                    } catch {
                        WorkerLog.say("cannot save: \(error)")
                    }
                case .togglePause:
                    guard let vm else { break }
                    if vm.isPaused {
                        vm.resume()
                        WorkerLog.say("resumed")
                    } else {
                        vm.pause()
                        WorkerLog.say("paused (Ctrl-] p resumes)")
                    }
                }
            }
        }
    }

    /// Returns the signal sources; the caller keeps them alive while the VM runs.
    /// Prints the integration services' state on standard error.
    func printStatus() {
        guard let vm else { return WorkerLog.say("the VM is not running") }
        for line in vm.integrationServicesReport() { WorkerLog.say(line) }
        for s in vm.machine.statistics {
            let reasons = s.exitsByReason.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            WorkerLog.say("vcpu \(s.index): \(s.exits) exits (\(reasons))")
        }
    }

    /// Asks the guest to shut down; says why not when it cannot.
    func requestGracefulShutdown() {
        do {
            guard let vm else { return }
            try vm.requestGracefulShutdown()
            WorkerLog.say("asked the guest to shut down")
        } catch {
            WorkerLog.say("cannot ask the guest to shut down: \(error); Ctrl-] q turns the VM off")
        }
    }

    func installSignalHandlers() -> [any DispatchSourceSignal] {
        var sources: [any DispatchSourceSignal] = []
        // SIGTERM asks the guest to shut down (like Stop-VM); a second SIGTERM, or SIGINT/SIGHUP,
        // turns the VM off.
        let termCount = Atomic<Int>(0)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                if sig == SIGTERM, termCount.add(1, ordering: .relaxed).oldValue == 0,
                    (try? vm?.requestGracefulShutdown()) != nil
                {
                    WorkerLog.say("SIGTERM: asked the guest to shut down (send it again to turn the VM off)")
                    return
                }
                killed.store(true, ordering: .releasing)
                vm?.requestStop()
            }
            source.resume()
            sources.append(source)
        }
        // SIGUSR1 prints the integration services' state (heartbeat sequence, KVP, ...).
        signal(SIGUSR1, SIG_IGN)
        let status = DispatchSource.makeSignalSource(signal: SIGUSR1, queue: .global())
        status.setEventHandler { [self] in printStatus() }
        status.resume()
        sources.append(status)
        return sources
    }
}
