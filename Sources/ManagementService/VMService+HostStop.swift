import Configuration
import Foundation
import Synchronization

/// The host going down (`POST /v1/host/stop-vms`, run by `dist/swifthv-stop-vms.service` at
/// shutdown): every running VM's automatic stop action, as Hyper-V's VMMS applies
/// `AutomaticStopAction` when Windows shuts down. A plain `hvd` exit never does this: workers
/// outlive `hvd` restarts by design, so the host's shutdown has to say so explicitly.
extension VMService {
    /// Applies the automatic stop action of every Running or Paused VM, all VMs in parallel,
    /// and answers once all are done: `Save` saves the VM (through `save`; one that cannot be
    /// saved is shut down instead, and the event log says why), `ShutDown` asks the guest
    /// through the shutdown integration service and turns it off after `timeoutSeconds`,
    /// `TurnOff` turns it off. Each VM left Off or Saved is marked `stoppedByHost`, so
    /// `StartIfRunning` starts it when `hvd` next starts.
    /// - Throws: `.invalidRequest` for a timeout outside 0...3600; a VM's failure is its outcome.
    public func stopVMsForHostShutdown(_ request: StopVMsRequest) throws(ServiceError) -> StopVMsResponse {
        let timeout = request.timeoutSeconds ?? 60
        guard (0...3600).contains(timeout) else { throw .invalidRequest("timeoutSeconds must be within 0...3600") }
        let vms = try db { try inventory.allVMs() }.filter { $0.state == .running || $0.state == .paused }
        logService("host stop: applying the automatic stop actions of \(vms.count) VM(s) (shutdown timeout \(timeout) s)")
        let outcomes = Mutex<[VMStopOutcome]>([])
        let group = DispatchGroup()
        for vm in vms {
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                let outcome = applyStopAction(vm, timeout: timeout)
                outcomes.withLock { $0.append(outcome) }
            }
            thread.name = "host-stop"
            thread.start()
        }
        group.wait()
        let done = outcomes.withLock { $0 }.sorted { $0.name < $1.name }
        let summary = Dictionary(grouping: done, by: \.state).map { "\($0.value.count) \($0.key)" }.sorted()
        logService("host stop: done" + (summary.isEmpty ? "" : " (\(summary.joined(separator: ", ")))"))
        return StopVMsResponse(vms: done)
    }

    private func logService(_ message: String) {
        if let event = try? inventory.log(vm: nil, kind: "service", message: message) { publish(event) }
    }

    /// One VM's stop action, with its fallbacks; never throws: a failure is the outcome.
    private func applyStopAction(_ vm: VMRecord, timeout: Int) -> VMStopOutcome {
        let configured = vm.automaticStopAction
        func outcome(_ applied: AutomaticStopAction, _ reason: String) -> VMStopOutcome {
            // Only an Off or Saved VM is marked; the event says what happened either way.
            let message = "host stop: \(reason)"
            if let (_, event) = try? inventory.markStoppedByHost(id: vm.id, true, message: message) {
                publish(event)
            } else if let event = try? inventory.log(vm: (try? record(vm.id)) ?? vm, kind: "hostStop", message: message) {
                publish(event)
            }
            let current = (try? record(vm.id)) ?? vm
            return VMStopOutcome(
                id: vm.id, name: current.name, automaticStopAction: configured, actionApplied: applied, state: current.state,
                reason: reason)
        }
        switch configured {
        case .turnOff:
            do {
                _ = try turnOff(vm.id)
                return outcome(.turnOff, "turned off")
            } catch {
                return outcome(.turnOff, "could not be turned off: \(error.description)")
            }
        case .shutDown:
            return shutDown(vm, timeout: timeout, prefix: "", outcome)
        case .save:
            let why: String
            do {
                let info = try save(vm.id)
                if info.state == .saved { return outcome(.save, "saved") }
                why = "the save ended with the VM \(info.state)" + (info.stateReason.map { " (\($0))" } ?? "")
            } catch {
                // "cannot save web: cannot save: devices were …" reads as "devices were …" here.
                var text = error.description
                for prefix in ["cannot save \(vm.name): ", "cannot save: "] where text.hasPrefix(prefix) { text.removeFirst(prefix.count) }
                why = text
            }
            let note = "\(vm.name) cannot be saved (\(why)); shutting it down instead"
            if let event = try? inventory.log(vm: (try? record(vm.id)) ?? vm, kind: "hostStop", message: "host stop: \(note)") {
                publish(event)
            }
            return shutDown(vm, timeout: timeout, prefix: "could not be saved (\(why)); ", outcome)
        }
    }

    /// A graceful stop that turns the VM off when the guest cannot answer or the timeout passes.
    private func shutDown(
        _ vm: VMRecord, timeout: Int, prefix: String, _ outcome: (AutomaticStopAction, String) -> VMStopOutcome
    ) -> VMStopOutcome {
        do {
            let result = try timed("stop") { () throws(ServiceError) -> StopResult in
                try serialized(vm.id) { () throws(ServiceError) -> StopResult in
                    try stopLocked(try record(vm.id), timeout: timeout, force: true)
                }
            }
            if let turnedOff = result.turnedOff { return outcome(.turnOff, prefix + turnedOff) }
            guard result.info.state == .off else {
                // The guest answered but reset instead of powering off, for example.
                return outcome(.shutDown, prefix + "asked the guest to shut down, but it is \(result.info.state)")
            }
            return outcome(.shutDown, prefix + "shut down by the guest")
        } catch {
            return outcome(.shutDown, prefix + "could not be shut down: \(error.description)")
        }
    }
}
