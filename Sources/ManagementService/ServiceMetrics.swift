import CoreMetrics
import Foundation
import Prometheus

/// hvd's metrics, recorded through the swift-metrics API and exported as Prometheus text
/// (format 0.0.4) by swift-prometheus.
///
/// Each `ServiceMetrics` owns its own registry and factory instead of bootstrapping the global
/// `MetricsSystem`: several services (tests run many in one process) must not share series, and
/// `MetricsSystem.bootstrap` may be called only once per process.
///
/// Two kinds of series:
/// - recorded as they happen, in `registry`: API requests, operation latencies (a histogram per
///   operation), worker exits and restarts;
/// - sampled at scrape time (VMs by state, per-vCPU exits from the workers): built in a registry
///   made for that one scrape, so a VM that is gone or a state nobody is in leaves no stale series.
///
/// ## Concurrency model
/// The registry locks internally; swift-metrics handles are `Sendable`. No state of our own.
public final class ServiceMetrics: Sendable {
    /// Series names, kept from the hand-written exporter this replaces (dashboards use them).
    public enum Name {
        public static let vms = "hvd_vms"
        public static let apiRequests = "hvd_api_requests_total"
        public static let operationSeconds = "hvd_operation_seconds"
        public static let workerExits = "hvd_worker_exits_total"
        public static let workerRestarts = "hvd_worker_restarts_total"
        public static let vcpuExits = "swifthv_vcpu_exits_total"
        public static let vcpuExitsByReason = "swifthv_vcpu_exits_by_reason_total"
        public static let tlsHandshakeFailures = "hvd_tls_handshake_failures_total"
    }

    /// `# HELP` text per series. swift-prometheus' swift-metrics factory registers series without
    /// help text (and traps if one name is registered twice with different help), so the help
    /// lines are added to the exposition here, before each `# TYPE` line.
    static let help: [String: String] = [
        Name.vms: "VMs in the inventory by state.",
        Name.apiRequests: "API requests by method and status.",
        Name.operationSeconds: "VM operation latency.",
        Name.workerExits: "Worker exits by reason.",
        Name.workerRestarts: "Workers restarted by a recovery action or a guest reset.",
        Name.vcpuExits: "vCPU exits to user space (KVM_RUN returns) of running VMs.",
        Name.vcpuExitsByReason: "vCPU exits to user space of running VMs by reason (io, mmio, msr, hlt, interrupted, ...).",
        Name.tlsHandshakeFailures: "TCP connections closed because the TLS handshake failed (plain HTTP, distrust, scans).",
    ]

    /// Operation latency buckets: a start is milliseconds, a graceful stop may take a minute.
    static let operationBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]

    /// Request methods counted by name; anything else counts as "other", so a client cannot grow
    /// the series table or inject text into the exposition.
    static let knownMethods: Set<String> = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"]
    /// Operation names and exit reasons come from our own code, but are capped all the same.
    static let maximumLabelLength = 64

    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let restarts: CoreMetrics.Counter

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = [Name.operationSeconds: Self.operationBuckets]
        self.factory = factory
        restarts = CoreMetrics.Counter(label: Name.workerRestarts, dimensions: [], factory: factory)
    }

    func request(method: String, status: Int) {
        let known = Self.knownMethods.contains(method) ? method : "other"
        CoreMetrics.Counter(label: Name.apiRequests, dimensions: [("method", known), ("status", "\(status)")], factory: factory).increment()
    }

    func operation(_ name: String, seconds: Double) {
        let nanoseconds = Int64(clamping: Int(max(0, min(seconds, 1e9)) * 1e9))
        CoreMetrics.Timer(label: Name.operationSeconds, dimensions: [("operation", Self.bounded(name))], factory: factory)
            .recordNanoseconds(nanoseconds)
    }

    func workerExit(reason: String) {
        CoreMetrics.Counter(label: Name.workerExits, dimensions: [("reason", Self.bounded(reason))], factory: factory).increment()
    }

    func workerRestart() { restarts.increment() }

    func tlsHandshakeFailure() {
        CoreMetrics.Counter(label: Name.tlsHandshakeFailures, dimensions: [], factory: factory).increment()
    }

    private static func bounded(_ label: String) -> String { String(label.prefix(maximumLabelLength)) }

    /// The exposition text; `vmsByState` comes from the inventory and `vcpuExits` from the
    /// workers at scrape time.
    public func render(vmsByState: [String: Int], vcpuExits: [VCPUExitSample] = []) -> String {
        let sampled = PrometheusCollectorRegistry()
        let sampledFactory = PrometheusMetricsFactory(registry: sampled)
        for (state, count) in vmsByState {
            CoreMetrics.Gauge(label: Name.vms, dimensions: [("state", Self.bounded(state))], factory: sampledFactory).record(count)
        }
        Self.record(vcpuExits, into: sampledFactory)
        var bytes = registry.emitToBuffer()
        sampled.emit(into: &bytes)
        return Self.addingHelp(to: String(decoding: bytes, as: UTF8.self), always: [Name.vcpuExits, Name.vcpuExitsByReason])
    }

    /// `swifthv_vcpu_exits_total{vm="NAME",vcpu="N"}`, one series per vCPU of each VM sampled.
    public static func renderVCPUExits(_ samples: [VCPUExitSample]) -> String {
        let registry = PrometheusCollectorRegistry()
        record(samples, into: PrometheusMetricsFactory(registry: registry))
        return addingHelp(to: registry.emitToString(), always: [Name.vcpuExits, Name.vcpuExitsByReason])
    }

    private static func record(_ samples: [VCPUExitSample], into factory: PrometheusMetricsFactory) {
        for sample in samples {
            for (index, exits) in sample.exits.enumerated() {
                CoreMetrics.Counter(label: Name.vcpuExits, dimensions: [("vm", sample.vm), ("vcpu", "\(index)")], factory: factory)
                    .increment(by: Int64(clamping: exits))
            }
            for (index, reasons) in sample.exitsByReason.enumerated() {
                for (reason, exits) in reasons.sorted(by: { $0.key < $1.key }) {
                    CoreMetrics.Counter(
                        label: Name.vcpuExitsByReason, dimensions: [("vm", sample.vm), ("vcpu", "\(index)"), ("reason", reason)],
                        factory: factory
                    ).increment(by: Int64(clamping: exits))
                }
            }
        }
    }

    /// Adds `# HELP` before each `# TYPE` line of a series we document, and the HELP/TYPE pair of
    /// each series in `always` that has no sample (scrapers then still learn its type).
    static func addingHelp(to text: String, always: [String]) -> String {
        var out = ""
        var typed = Set<String>()
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# TYPE ") {
                let name = String(line.dropFirst(7).prefix { $0 != " " })
                typed.insert(name)
                if let help = help[name] { out += "# HELP \(name) \(help)\n" }
            }
            out += line + "\n"
        }
        for name in always where !typed.contains(name) {
            out += "# HELP \(name) \(help[name] ?? name)\n# TYPE \(name) counter\n"
        }
        return out
    }
}

/// One VM's per-vCPU exit counts, as its worker reported them at scrape time.
public struct VCPUExitSample: Sendable, Equatable {
    public var vm: String
    /// Exits per vCPU, in vCPU index order.
    public var exits: [UInt64]
    /// Exits per vCPU by reason (empty from workers that do not report reasons).
    public var exitsByReason: [[String: UInt64]]
    public init(vm: String, exits: [UInt64], exitsByReason: [[String: UInt64]] = []) {
        self.vm = vm
        self.exits = exits
        self.exitsByReason = exitsByReason
    }
}
