import Foundation
import Synchronization

/// Counters and latency sums for `/metrics` (Prometheus text format 0.0.4). Hand-written rather
/// than swift-metrics + swift-prometheus: a handful of series does not justify two more packages
/// in a 2-core CI build.
///
/// ## Concurrency model
/// One `Mutex` around plain dictionaries.
public final class ServiceMetrics: Sendable {
    private struct State {
        var requests: [String: Int] = [:]  // "method status"
        var operations: [String: (count: Int, seconds: Double)] = [:]
        var workerExits: [String: Int] = [:]
        var workerRestarts = 0
    }
    private let state = Mutex(State())
    public init() {}

    /// Methods outside a fixed set count as "other", so a client cannot grow the series table
    /// or inject text into the exposition.
    func request(method: String, status: Int) {
        let known = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"].contains(method) ? method : "other"
        state.withLock { $0.requests["\(known) \(status)", default: 0] += 1 }
    }
    func operation(_ name: String, seconds: Double) {
        state.withLock { s in
            let old = s.operations[name] ?? (0, 0)
            s.operations[name] = (old.count + 1, old.seconds + seconds)
        }
    }
    func workerExit(reason: String) { state.withLock { $0.workerExits[reason, default: 0] += 1 } }
    func workerRestart() { state.withLock { $0.workerRestarts += 1 } }

    /// The exposition text; `vmsByState` comes from the inventory and `vcpuExits` from the
    /// workers at scrape time.
    public func render(vmsByState: [String: Int], vcpuExits: [VCPUExitSample] = []) -> String {
        let s = state.withLock { $0 }
        var out = "# HELP hvd_vms VMs in the inventory by state.\n# TYPE hvd_vms gauge\n"
        for (state, n) in vmsByState.sorted(by: { $0.key < $1.key }) { out += "hvd_vms{state=\"\(state)\"} \(n)\n" }
        out += "# HELP hvd_api_requests_total API requests by method and status.\n# TYPE hvd_api_requests_total counter\n"
        for (key, n) in s.requests.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: " ")
            out += "hvd_api_requests_total{method=\"\(parts[0])\",status=\"\(parts.count > 1 ? parts[1] : "")\"} \(n)\n"
        }
        out += "# HELP hvd_operation_seconds VM operation latency.\n# TYPE hvd_operation_seconds summary\n"
        for (name, v) in s.operations.sorted(by: { $0.key < $1.key }) {
            out += "hvd_operation_seconds_sum{operation=\"\(name)\"} \(v.seconds)\n"
            out += "hvd_operation_seconds_count{operation=\"\(name)\"} \(v.count)\n"
        }
        out += "# HELP hvd_worker_exits_total Worker exits by reason.\n# TYPE hvd_worker_exits_total counter\n"
        for (reason, n) in s.workerExits.sorted(by: { $0.key < $1.key }) { out += "hvd_worker_exits_total{reason=\"\(reason)\"} \(n)\n" }
        out += "# HELP hvd_worker_restarts_total Workers restarted by a recovery action or a guest reset.\n"
        out += "# TYPE hvd_worker_restarts_total counter\nhvd_worker_restarts_total \(s.workerRestarts)\n"
        out += Self.renderVCPUExits(vcpuExits)
        return out
    }

    /// `swifthv_vcpu_exits_total{vm="NAME",vcpu="N"}`, one series per vCPU of each VM sampled.
    public static func renderVCPUExits(_ samples: [VCPUExitSample]) -> String {
        var out = "# HELP swifthv_vcpu_exits_total vCPU exits to user space (KVM_RUN returns) of running VMs.\n"
        out += "# TYPE swifthv_vcpu_exits_total counter\n"
        for sample in samples.sorted(by: { $0.vm < $1.vm }) {
            let vm = labelValue(sample.vm)
            for (index, exits) in sample.exits.enumerated() {
                out += "swifthv_vcpu_exits_total{vm=\"\(vm)\",vcpu=\"\(index)\"} \(exits)\n"
            }
        }
        return out
    }

    /// Escapes a label value as the text format requires (backslash, double quote, newline).
    static func labelValue(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}

/// One VM's per-vCPU exit counts, as its worker reported them at scrape time.
public struct VCPUExitSample: Sendable, Equatable {
    public var vm: String
    /// Exits per vCPU, in vCPU index order.
    public var exits: [UInt64]
    public init(vm: String, exits: [UInt64]) {
        self.vm = vm
        self.exits = exits
    }
}
