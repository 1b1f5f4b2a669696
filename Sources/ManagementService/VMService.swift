import Configuration
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The management service's domain logic: the inventory, the state machine and the workers.
/// No transport types: the HTTP adapter (`APIServer`) decodes requests and calls these methods.
///
/// ## Concurrency model
/// Every method is synchronous and called from API connection threads. Operations on one VM
/// are serialized by that VM's `OperationLock` (held for the whole operation, e.g. a graceful
/// stop's wait); different VMs proceed in parallel. `turnOff` of a VM that is Stopping skips the
/// lock so it can interrupt the stop that holds it. Worker exits arrive on monitor threads and
/// change the inventory with conditional transitions, never under an operation lock.
public final class VMService: Sendable {
    public let paths: ServicePaths
    public let inventory: Inventory
    public let supervisor: WorkerSupervisor
    public let allowedDirectories: [String]
    public let events = EventHub()
    public let metrics = ServiceMetrics()
    let logger: Logger
    private let workers = Mutex<[String: WorkerHandle]>([:])
    private let locks = Mutex<[String: OperationLock]>([:])
    /// Held while a configuration change is checked against the other VMs and stored (create,
    /// update, device changes), so two VMs cannot both take one image, TAP or MAC. Taken after a
    /// VM's operation lock, never before.
    let configurationLock = Mutex<Void>(())

    final class OperationLock: Sendable {
        let mutex = Mutex<Void>(())
    }

    public init(paths: ServicePaths, supervisor: WorkerSupervisor, allowedDirectories: [String], logger: Logger) throws {
        try paths.create()
        self.paths = paths
        self.inventory = try Inventory(path: paths.inventory)
        self.supervisor = supervisor
        self.allowedDirectories = allowedDirectories
        self.logger = logger
    }

    func serialized<T>(_ id: String, _ body: () throws(ServiceError) -> T) throws(ServiceError) -> T {
        let lock = locks.withLock { locks in
            if let lock = locks[id] { return lock }
            let lock = OperationLock()
            locks[id] = lock
            return lock
        }
        return try lock.mutex.withLock { _ throws(ServiceError) -> T in try body() }
    }

    func db<T>(_ body: () throws -> T) throws(ServiceError) -> T {
        do {
            return try body()
        } catch let error as ServiceError {
            throw error
        } catch let error as InventoryError {
            throw .conflict(error.description, hint: "choose another name")
        } catch {
            throw .workerFailed("inventory error: \(error)")
        }
    }

    func publish(_ event: VMEvent) {
        logger.info("\(event.vmName ?? "hvd"): \(event.message)", metadata: ["kind": "\(event.kind)"])
        events.publish(event)
    }

    // MARK: Recovery at startup

    /// Re-attaches to the workers that outlived a previous `hvd`, marks VMs whose worker is gone
    /// Off with the reason, then applies automatic start actions: `Start` starts every Off or
    /// Saved VM; `StartIfRunning` one that was running when `hvd` or the host went down (its
    /// worker is gone, or the host stop left it Off or Saved). A Saved VM continues from its
    /// saved state.
    public func recover() {
        let vms = (try? inventory.allVMs()) ?? []
        for vm in vms where vm.state != .off && vm.state != .saved {
            if let handle = supervisor.reattach(vm) {
                adopt(handle, vm: vm)
                // The worker knows whether its guest is paused; the inventory may be stale.
                let paused = (try? handle.request(.status, timeoutSeconds: 2))?.status?.paused == true
                let target: VMState = paused ? .paused : .running
                if vm.state != target, let (_, event) = try? inventory.transition(
                    id: vm.id, from: nil, to: target, reason: nil, workerPID: .some(handle.pid),
                    message: "re-attached to the \(paused ? "paused" : "running") worker (pid \(handle.pid))")
                {
                    publish(event)
                } else if let event = try? inventory.log(vm: vm, kind: "service", message: "re-attached to worker pid \(handle.pid)") {
                    publish(event)
                }
            } else if vm.state == .saving, supervisor.leftoverExit(vm)?.reason == "saved",
                FileManager.default.fileExists(atPath: paths.savedState(vm.id))
            {
                // The worker finished the save while hvd was away.
                if let (_, event) = try? inventory.transition(
                    id: vm.id, from: nil, to: .saved, reason: nil, workerPID: .some(nil), message: "saved (while hvd was away)")
                {
                    publish(event)
                }
            } else {
                let why = supervisor.leftoverExit(vm).map { "the worker ended while hvd was away: \($0.message)" }
                    ?? "the worker was gone when hvd restarted"
                if let (_, event) = try? inventory.transition(id: vm.id, from: nil, to: .off, reason: why, workerPID: .some(nil), message: why) {
                    publish(event)
                }
                if vm.automaticStartAction == .start || (vm.automaticStartAction == .startIfRunning && vm.state == .running) {
                    _ = try? start(vm.id)
                }
            }
        }
        for vm in vms where vm.state == .off || vm.state == .saved {
            let wasRunning = vm.stoppedByHost && vm.automaticStartAction == .startIfRunning
            if vm.automaticStartAction == .start || wasRunning {
                _ = try? start(vm.id)  // clears stoppedByHost (any state change does)
            } else if vm.stoppedByHost, let (_, event) = try? inventory.markStoppedByHost(
                id: vm.id, false, message: "host start: left \(vm.state) (automatic start action \(vm.automaticStartAction.rawValue))")
            {
                publish(event)
            }
        }
    }

    // MARK: Queries

    public func list() throws(ServiceError) -> [VMInfo] { try db { try inventory.allVMs().map(\.info) } }

    public func record(_ idOrName: String) throws(ServiceError) -> VMRecord {
        guard let vm = try db({ try inventory.vm(idOrName: idOrName) }) else { throw .notFound("no VM named or with id \"\(idOrName)\"") }
        return vm
    }

    public func get(_ idOrName: String) throws(ServiceError) -> VMInfo { try record(idOrName).info }

    public func eventLog(vm idOrName: String?, afterID: Int64, limit: Int) throws(ServiceError) -> [VMEvent] {
        let id = try idOrName.map { name throws(ServiceError) in try record(name).id }
        return try db { try inventory.events(vmID: id, afterID: afterID, limit: limit) }
    }

    public func vmsByState() -> [String: Int] {
        var counts = Dictionary(uniqueKeysWithValues: VMState.all.map { ($0.rawValue, 0) })
        for vm in (try? inventory.allVMs()) ?? [] { counts[vm.state.rawValue, default: 0] += 1 }
        return counts
    }

    public func hostInfo() -> HostInfo {
        let byState = vmsByState()
        return HostInfo(
            hostname: ProcessInfo.processInfo.hostName, serviceVersion: "0.1.0", apiVersion: 1,
            kvmAvailable: access("/dev/kvm", R_OK | W_OK) == 0, logicalProcessors: ProcessInfo.processInfo.activeProcessorCount,
            memoryMiB: ProcessInfo.processInfo.physicalMemory >> 20, stateDirectory: paths.stateDirectory,
            vmCount: byState.values.reduce(0, +), vmsByState: byState)
    }

    /// Per-vCPU exit counts of every VM with a worker, asked of all workers at once. A worker
    /// that does not answer within `timeoutSeconds` (stuck, or busy) is left out, so a scrape
    /// never waits longer than that.
    public func vcpuExits(timeoutSeconds: Int = 1) -> [VCPUExitSample] {
        let handles = workers.withLock { Array($0.values) }
        guard !handles.isEmpty else { return [] }
        let names = Dictionary(((try? inventory.allVMs()) ?? []).map { ($0.id, $0.name) }, uniquingKeysWith: { a, _ in a })
        let samples = Mutex<[VCPUExitSample]>([])
        let group = DispatchGroup()
        for handle in handles {
            guard let name = names[handle.vmID] else { continue }
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                guard let status = (try? handle.request(.status, timeoutSeconds: timeoutSeconds))?.status,
                    let exits = status.vcpuExits
                else { return }
                samples.withLock { $0.append(VCPUExitSample(vm: name, exits: exits, exitsByReason: status.vcpuExitsByReason ?? [])) }
            }
            thread.name = "metrics-status"
            thread.start()
        }
        _ = group.wait(timeout: .now() + .milliseconds(timeoutSeconds * 1000 + 250))
        return samples.withLock { $0 }
    }

    // MARK: Inventory changes

    public func create(_ request: CreateVMRequest) throws(ServiceError) -> VMInfo {
        var configuration = VMConfiguration(name: request.name, boot: request.boot.bootSource)
        if let v = request.memoryMiB { configuration.memoryMiB = v }
        if let v = request.cpus { configuration.cpus = v }
        if let v = request.integrationServices { configuration.integrationServices = v }
        if let v = request.hyperV { configuration.hyperV = v }
        if let v = request.hostProfile { configuration.hostProfile = v }
        if let v = request.disks { configuration.disks = v }
        if let v = request.networkAdapters { configuration.networkAdapters = v }
        configuration.notes = request.notes
        return try configurationLock.withLock { _ throws(ServiceError) -> VMInfo in
            let (checked, images) = try checkedConfiguration(configuration, vmID: nil)
            let vm = VMRecord(
                id: UUID().uuidString.lowercased(), name: request.name, state: .off, stateReason: nil, createdAt: Date(),
                configuration: checked, automaticStartAction: request.automaticStartAction ?? .nothing,
                automaticStopAction: request.automaticStopAction ?? .shutDown, recoveryAction: request.recoveryAction ?? .none,
                workerPID: nil)
            let created: Inventory.EventNote = ("created", "created \(vm.name) (\(checked.memoryMiB) MiB, \(checked.cpus) vCPU)")
            let notes = [created] + Self.deviceEvents(old: nil, new: checked, images: images)
            for event in try db({ try inventory.insert(vm, events: notes) }) { publish(event) }
            return vm.info
        }
    }

    public func update(_ idOrName: String, _ request: UpdateVMRequest) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try serialized(id) { () throws(ServiceError) -> VMInfo in
            var vm = try record(id)
            try VMStateMachine.check(.update, vm: vm.name, state: vm.state)
            var c = vm.configuration
            if let v = request.name { c.name = v }
            if let v = request.memoryMiB { c.memoryMiB = v }
            if let v = request.cpus { c.cpus = v }
            if let v = request.boot { c.boot = v.bootSource }
            if let v = request.integrationServices { c.integrationServices = v }
            if let v = request.hyperV { c.hyperV = v }
            if let v = request.hostProfile { c.hostProfile = v }
            if let v = request.disks { c.disks = v }
            if let v = request.networkAdapters { c.networkAdapters = v }
            if let v = request.notes { c.notes = v }
            let old = vm.configuration
            return try configurationLock.withLock { _ throws(ServiceError) -> VMInfo in
                let (checked, images) = try checkedConfiguration(c, vmID: id)
                vm.configuration = checked
                vm.name = checked.name
                if let v = request.automaticStartAction { vm.automaticStartAction = v }
                if let v = request.automaticStopAction { vm.automaticStopAction = v }
                if let v = request.recoveryAction { vm.recoveryAction = v }
                let updated = vm
                let notes = [("updated", "configuration updated")] + Self.deviceEvents(old: old, new: checked, images: images)
                for event in try db({ try inventory.update(updated, events: notes) }) { publish(event) }
                return updated.info
            }
        }
    }

    public func delete(_ idOrName: String) throws(ServiceError) {
        let id = try record(idOrName).id
        try serialized(id) { () throws(ServiceError) in
            let vm = try record(id)
            try VMStateMachine.check(.delete, vm: vm.name, state: vm.state)
            publish(try db { try inventory.delete(vm) })
            try? FileManager.default.removeItem(atPath: paths.vmDirectory(vm.id))
        }
    }

    // MARK: Lifecycle

    func transition(_ vm: VMRecord, from: Set<VMState>?, to state: VMState, reason: String? = nil, pid: Int32?? = nil, _ message: String) throws(ServiceError) -> Bool {
        guard let (_, event) = try db({ try inventory.transition(id: vm.id, from: from, to: state, reason: reason, workerPID: pid, message: message) }) else {
            return false
        }
        publish(event)
        return true
    }

    func timed<T>(_ name: String, _ body: () throws(ServiceError) -> T) throws(ServiceError) -> T {
        let start = Date()
        defer { metrics.operation(name, seconds: Date().timeIntervalSince(start)) }
        return try body()
    }

    /// Off → Starting → Running: spawns the worker and waits for its control channel.
    public func start(_ idOrName: String) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try timed("start") { () throws(ServiceError) -> VMInfo in
            try serialized(id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(id)
                try VMStateMachine.check(.start, vm: vm.name, state: vm.state)
                try startLocked(vm)
                return try record(id).info
            }
        }
    }

    private func startLocked(_ vm: VMRecord) throws(ServiceError) {
        // Start-VM of a Saved VM continues the guest from its saved state.
        let savedState = vm.state == .saved ? paths.savedState(vm.id) : nil
        if vm.state != .resetting {
            _ = try transition(vm, from: [vm.state], to: .starting, savedState == nil ? "starting" : "starting from the saved state")
        }
        let handle: WorkerHandle
        do {
            handle = try supervisor.spawn(vm, restoring: savedState)
        } catch {
            // A restore that failed leaves the saved state in place: the user may retry or discard it.
            let back: VMState = savedState == nil ? .off : .saved
            _ = try transition(vm, from: nil, to: back, reason: error.description, pid: .some(nil), "failed to start: \(error.description)")
            throw error
        }
        adopt(handle, vm: vm)
        _ = try transition(
            vm, from: [.starting, .resetting], to: .running, pid: .some(handle.pid),
            savedState == nil ? "running (worker pid \(handle.pid))" : "running from the saved state (worker pid \(handle.pid))")
        // The guest has moved on: the saved state is stale (Hyper-V drops it on start too).
        if let savedState { unlink(savedState) }
    }

    private func adopt(_ handle: WorkerHandle, vm: VMRecord) {
        workers.withLock { $0[vm.id] = handle }
        handle.monitor { [self] exit in workerExited(handle, exit: exit) }
    }

    /// A worker ended (any reason): the VM goes Off with the reason, unless an operation that
    /// expects the exit (restart) owns the VM; a guest reset or a recovery action restarts it.
    private func workerExited(_ handle: WorkerHandle, exit: WorkerExit) {
        let current = workers.withLock { workers -> Bool in
            guard workers[handle.vmID] === handle else { return false }
            workers[handle.vmID] = nil
            return true
        }
        metrics.workerExit(reason: exit.reason)
        guard current, let vm = try? inventory.vm(id: handle.vmID) else { return }
        if vm.state == .resetting { return }  // restart() is waiting for this exit
        let message = "worker pid \(handle.pid) exited: \(exit.message)"
        if exit.reason == "saved" {
            _ = try? transition(vm, from: nil, to: .saved, reason: nil, pid: .some(nil), "saved (\(paths.savedState(vm.id)))")
            return
        }
        let unexpected = exit.reason == "crashed" || exit.reason == "error"
        if exit.reason == "reset" || (unexpected && vm.recoveryAction == .restart) {
            guard (try? transition(vm, from: nil, to: .resetting, reason: exit.message, pid: .some(nil), message + "; restarting")) == true else { return }
            metrics.workerRestart()
            let thread = Thread { [self] in
                try? serialized(vm.id) { () throws(ServiceError) in
                    guard let fresh = try? record(vm.id), fresh.state == .resetting else { return }
                    try startLocked(fresh)
                }
            }
            thread.start()
            return
        }
        _ = try? transition(vm, from: nil, to: .off, reason: exit.message, pid: .some(nil), message)
    }

    func worker(_ vm: VMRecord) throws(ServiceError) -> WorkerHandle {
        guard let handle = workers.withLock({ $0[vm.id] }) else {
            throw .invalidState("\(vm.name) has no running worker", hint: "hv vm show \(vm.name) shows its state")
        }
        return handle
    }

    /// Running → Stopping → Off through the guest's shutdown integration service. With `force`,
    /// turns the VM off when the guest cannot be asked or does not stop within the timeout.
    public func stop(_ idOrName: String, _ request: StopVMRequest) throws(ServiceError) -> VMInfo {
        let timeout = request.timeoutSeconds ?? 60
        guard (0...3600).contains(timeout) else { throw .invalidRequest("timeoutSeconds must be within 0...3600") }
        let force = request.force ?? false
        let id = try record(idOrName).id
        return try timed("stop") { () throws(ServiceError) -> VMInfo in
            try serialized(id) { () throws(ServiceError) -> VMInfo in try stopLocked(try record(id), timeout: timeout, force: force).info }
        }
    }

    /// How a stop ended: the VM, and the note when it was turned off rather than shut down.
    typealias StopResult = (info: VMInfo, turnedOff: String?)

    /// The body of `stop`, under the VM's operation lock.
    func stopLocked(_ vm: VMRecord, timeout: Int, force: Bool) throws(ServiceError) -> StopResult {
        try VMStateMachine.check(.stop, vm: vm.name, state: vm.state)
        let handle = try worker(vm)
        if vm.state == .paused {
            // A paused guest cannot run its shutdown service. Hyper-V's Stop-VM turns a
            // paused VM off after confirmation; `force` is that confirmation here.
            guard force else {
                throw .invalidState(
                    "cannot stop \(vm.name) gracefully: it is Paused, so the guest cannot shut itself down",
                    hint: "hv vm resume \(vm.name) first, or hv vm stop --force \(vm.name) turns it off")
            }
            _ = try transition(vm, from: [.paused], to: .stopping, "turning off (stop --force of a paused VM)")
            let note = "turned off (it was paused)"
            return (try turnOffLocked(vm, handle: handle, note: note), note)
        }
        _ = try transition(vm, from: [.running], to: .stopping, "shutting down (timeout \(timeout) s)")
        let reply = try? handle.request(.shutdown)
        if reply?.kind != .ok {
            let why = reply?.error ?? "the worker did not answer"
            if !force {
                _ = try transition(vm, from: [.stopping], to: .running, "shutdown refused: \(why)")
                throw .conflict(
                    "cannot shut down \(vm.name) gracefully: \(why)", hint: "hv vm stop --turn-off \(vm.name) turns it off")
            }
            let note = "turned off (graceful shutdown unavailable: \(why))"
            return (try turnOffLocked(vm, handle: handle, note: note), note)
        }
        if handle.waitForExit(timeoutSeconds: Double(timeout)) { return (try settled(vm), nil) }
        if force {
            let note = "turned off after the \(timeout) s shutdown timeout"
            return (try turnOffLocked(vm, handle: handle, note: note), note)
        }
        _ = try transition(vm, from: [.stopping], to: .running, "the guest did not shut down within \(timeout) s")
        throw .timeout(
            "\(vm.name) did not shut down within \(timeout) s", hint: "hv vm stop --force \(vm.name) turns it off after the timeout")
    }

    /// Waits for the monitor to record the exit in the inventory.
    private func settled(_ vm: VMRecord) throws(ServiceError) -> VMInfo {
        for _ in 0..<100 {
            let fresh = try record(vm.id)
            if fresh.state == .off { return fresh.info }
            usleep(20_000)
        }
        return try record(vm.id).info
    }

    private func turnOffLocked(_ vm: VMRecord, handle: WorkerHandle, note: String) throws(ServiceError) -> VMInfo {
        if let event = try? inventory.log(vm: vm, kind: "state", message: note) { publish(event) }
        _ = try? handle.request(.turnOff)
        if !handle.waitForExit(timeoutSeconds: 10) {
            kill(handle.pid, SIGKILL)
            _ = handle.waitForExit(timeoutSeconds: 10)
        }
        return try settled(vm)
    }

    /// Turns the VM off now (Hyper-V "Turn Off"): the guest is not asked.
    public func turnOff(_ idOrName: String) throws(ServiceError) -> VMInfo {
        let vm = try record(idOrName)
        try VMStateMachine.check(.turnOff, vm: vm.name, state: vm.state)
        if vm.state == .stopping {  // interrupt the graceful stop that holds the lock
            return try turnOffLocked(vm, handle: try worker(vm), note: "turning off (interrupting the shutdown)")
        }
        if vm.state == .saved {  // Hyper-V: turning off a saved VM discards its saved state
            return try serialized(vm.id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(vm.id)
                try VMStateMachine.check(.discardSavedState, vm: vm.name, state: vm.state)
                return try discardLocked(vm)
            }
        }
        return try timed("turn-off") { () throws(ServiceError) -> VMInfo in
            try serialized(vm.id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(vm.id)
                try VMStateMachine.check(.turnOff, vm: vm.name, state: vm.state)
                _ = try transition(vm, from: [vm.state], to: .stopping, "turning off")
                return try turnOffLocked(vm, handle: try worker(vm), note: "turned off")
            }
        }
    }

    /// Running → Resetting → Running: turns the worker off and starts a fresh one.
    public func restart(_ idOrName: String) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try timed("restart") { () throws(ServiceError) -> VMInfo in
            try serialized(id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(id)
                try VMStateMachine.check(.restart, vm: vm.name, state: vm.state)
                let handle = try worker(vm)
                _ = try transition(vm, from: [.running], to: .resetting, "restarting")
                _ = try? handle.request(.turnOff)
                if !handle.waitForExit(timeoutSeconds: 10) {
                    kill(handle.pid, SIGKILL)
                    _ = handle.waitForExit(timeoutSeconds: 10)
                }
                try startLocked(try record(id))
                return try record(id).info
            }
        }
    }

    /// Running → Paused (Suspend-VM): the worker keeps every vCPU out of the guest; devices,
    /// timers and the console connection stay as they are.
    public func pause(_ idOrName: String) throws(ServiceError) -> VMInfo {
        try pauseOrResume(.pause, idOrName, from: .running, to: .paused, done: "paused")
    }

    /// Paused → Running (Resume-VM).
    public func resume(_ idOrName: String) throws(ServiceError) -> VMInfo {
        try pauseOrResume(.resume, idOrName, from: .paused, to: .running, done: "resumed")
    }

    private func pauseOrResume(_ operation: VMOperation, _ idOrName: String, from: VMState, to: VMState, done: String) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try timed(operation.rawValue) { () throws(ServiceError) -> VMInfo in
            try serialized(id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(id)
                try VMStateMachine.check(operation, vm: vm.name, state: vm.state)
                let handle = try worker(vm)
                let kind: ControlMessage.Kind = operation == .pause ? .pause : .resume
                let reply: ControlMessage
                do {
                    reply = try handle.request(kind)
                } catch {
                    throw .workerFailed("cannot \(operation.rawValue) \(vm.name): the worker (pid \(handle.pid)) did not answer: \(error)")
                }
                if reply.isUnknownRequest {
                    throw .notSupported(
                        "cannot \(operation.rawValue) \(vm.name): its worker (pid \(handle.pid)) predates pause and resume",
                        hint: "restart the VM (hv vm restart \(vm.name)) so it runs the current hv-worker")
                }
                guard reply.kind == .ok else {
                    throw .workerFailed("cannot \(operation.rawValue) \(vm.name): \(reply.error ?? "the worker refused")")
                }
                _ = try transition(vm, from: [from], to: to, done)
                return try record(id).info
            }
        }
    }

    /// Running or Paused → Saving → Saved (Save-VM): the worker pauses the guest, writes its
    /// state to `ServicePaths.savedState` and exits; the VM then holds no host resources
    /// but memory on disk. On failure the VM goes back to the state it was in.
    public func save(_ idOrName: String) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try timed("save") { () throws(ServiceError) -> VMInfo in
            try serialized(id) { () throws(ServiceError) -> VMInfo in
                let vm = try record(id)
                try VMStateMachine.check(.save, vm: vm.name, state: vm.state)
                let handle = try worker(vm)
                let before = vm.state
                _ = try transition(vm, from: [before], to: .saving, "saving")
                let path = paths.savedState(vm.id)
                let reply: ControlMessage
                do {
                    reply = try handle.request(ControlMessage(.save, path: path), timeoutSeconds: 300)
                } catch {
                    _ = try transition(vm, from: [.saving], to: before, "save failed: the worker did not answer")
                    throw .workerFailed("cannot save \(vm.name): the worker (pid \(handle.pid)) did not answer: \(error)")
                }
                if reply.isUnknownRequest {
                    _ = try transition(vm, from: [.saving], to: before, "save refused: the worker predates save")
                    throw .notSupported(
                        "cannot save \(vm.name): its worker (pid \(handle.pid)) predates save",
                        hint: "restart the VM (hv vm restart \(vm.name)) so it runs the current hv-worker")
                }
                guard reply.kind == .ok else {
                    _ = try transition(vm, from: [.saving], to: before, "save failed: \(reply.error ?? "the worker refused")")
                    throw .conflict("cannot save \(vm.name): \(reply.error ?? "the worker refused")")
                }
                if !handle.waitForExit(timeoutSeconds: 30) {
                    kill(handle.pid, SIGKILL)
                    _ = handle.waitForExit(timeoutSeconds: 10)
                }
                for _ in 0..<100 {
                    let fresh = try record(id)
                    if fresh.state != .saving { return fresh.info }
                    usleep(20_000)
                }
                return try record(id).info
            }
        }
    }

    /// Saved → Off (Remove-VMSavedState): deletes the saved state; the next start boots afresh.
    public func discardSavedState(_ idOrName: String) throws(ServiceError) -> VMInfo {
        let id = try record(idOrName).id
        return try serialized(id) { () throws(ServiceError) -> VMInfo in
            let vm = try record(id)
            try VMStateMachine.check(.discardSavedState, vm: vm.name, state: vm.state)
            return try discardLocked(vm)
        }
    }

    private func discardLocked(_ vm: VMRecord) throws(ServiceError) -> VMInfo {
        unlink(paths.savedState(vm.id))
        _ = try transition(vm, from: [.saved], to: .off, reason: nil, pid: .some(nil), "saved state discarded")
        return try record(vm.id).info
    }

    /// Refuses an operation this build does not implement.
    public func unsupported(_ operation: VMOperation, _ idOrName: String) throws(ServiceError) -> Never {
        let vm = try record(idOrName)
        try VMStateMachine.check(operation, vm: vm.name, state: vm.state)
        throw .notSupported("\(operation.rawValue) is not supported by this hv-worker yet")
    }

    /// The running worker's console connection.
    public func consoleWorker(_ idOrName: String) throws(ServiceError) -> WorkerHandle {
        let vm = try record(idOrName)
        guard [.running, .paused, .stopping, .starting].contains(vm.state) else {
            throw .invalidState("\(vm.name) is \(vm.state): only a running VM has a console", hint: "hv vm start \(vm.name)")
        }
        return try worker(vm)
    }
}
