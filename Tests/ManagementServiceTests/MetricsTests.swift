@testable import ManagementService
import Testing

/// The Prometheus text /metrics serves (swift-metrics API, swift-prometheus exporter).
@Suite struct MetricsTests {
    @Test func vcpuExitSeriesFormat() {
        let text = ServiceMetrics.renderVCPUExits([
            VCPUExitSample(vm: "web", exits: [12, 0]),
            VCPUExitSample(vm: "db", exits: [3]),
        ])
        let lines = text.split(separator: "\n").map(String.init)
        #expect(Array(lines.prefix(2)) == [
            "# HELP swifthv_vcpu_exits_total vCPU exits to user space (KVM_RUN returns) of running VMs.",
            "# TYPE swifthv_vcpu_exits_total counter",
        ])
        // The exporter orders series as it likes; Prometheus does not care.
        #expect(Set(lines.dropFirst(2).filter { !$0.contains("by_reason") }) == [
            #"swifthv_vcpu_exits_total{vm="db",vcpu="0"} 3"#,
            #"swifthv_vcpu_exits_total{vm="web",vcpu="0"} 12"#,
            #"swifthv_vcpu_exits_total{vm="web",vcpu="1"} 0"#,
        ])
    }

    @Test func labelValuesAreEscaped() {
        let text = ServiceMetrics.renderVCPUExits([VCPUExitSample(vm: "a\"b\\c\nd", exits: [1])])
        #expect(text.contains(#"swifthv_vcpu_exits_total{vm="a\"b\\c\nd",vcpu="0"} 1"#))
        #expect(text.split(separator: "\n").count == 5, "a newline in a name must not start a new line")
    }

    @Test func exitsByReasonAreOneSeriesPerReason() {
        let text = ServiceMetrics.renderVCPUExits([
            VCPUExitSample(vm: "web", exits: [12, 4], exitsByReason: [["io": 9, "msr": 3], ["interrupted": 4]])
        ])
        let series = Set(text.split(separator: "\n").map(String.init).filter { $0.hasPrefix("swifthv_vcpu_exits_by_reason_total{") })
        #expect(series == [
            #"swifthv_vcpu_exits_by_reason_total{vm="web",vcpu="0",reason="io"} 9"#,
            #"swifthv_vcpu_exits_by_reason_total{vm="web",vcpu="0",reason="msr"} 3"#,
            #"swifthv_vcpu_exits_by_reason_total{vm="web",vcpu="1",reason="interrupted"} 4"#,
        ])
        #expect(text.contains("# TYPE swifthv_vcpu_exits_by_reason_total counter\n"))
    }

    @Test func noSamplesStillDeclaresTheVCPUSeries() {
        #expect(ServiceMetrics.renderVCPUExits([]).contains("# TYPE swifthv_vcpu_exits_total counter\n"))
    }

    @Test func fullExpositionCarriesEverySeriesAndItsType() {
        let metrics = ServiceMetrics()
        metrics.request(method: "GET", status: 200)
        metrics.request(method: "GET", status: 200)
        metrics.request(method: "BREW\n", status: 418)
        metrics.operation("start", seconds: 0.2)
        metrics.operation("start", seconds: 3)
        metrics.workerExit(reason: "guest-shutdown")
        metrics.workerRestart()
        let text = metrics.render(vmsByState: ["Off": 1, "Running": 0], vcpuExits: [VCPUExitSample(vm: "v", exits: [9])])
        let lines = Set(text.split(separator: "\n").map(String.init))
        for (name, type) in [
            ("hvd_vms", "gauge"), ("hvd_api_requests_total", "counter"), ("hvd_operation_seconds", "histogram"),
            ("hvd_worker_exits_total", "counter"), ("hvd_worker_restarts_total", "counter"), ("swifthv_vcpu_exits_total", "counter"),
        ] {
            #expect(lines.contains("# TYPE \(name) \(type)"), "\(name)")
            #expect(lines.contains { $0.hasPrefix("# HELP \(name) ") }, "\(name)")
        }
        #expect(lines.contains(#"hvd_vms{state="Off"} 1.0"#))
        #expect(lines.contains(#"hvd_vms{state="Running"} 0.0"#))
        #expect(lines.contains(#"hvd_api_requests_total{method="GET",status="200"} 2"#))
        #expect(lines.contains(#"hvd_api_requests_total{method="other",status="418"} 1"#), "unknown methods are folded")
        #expect(lines.contains(#"hvd_operation_seconds_count{operation="start"} 2"#))
        #expect(lines.contains(#"hvd_operation_seconds_bucket{operation="start",le="0.25"} 1"#))
        #expect(lines.contains(#"hvd_operation_seconds_bucket{operation="start",le="+Inf"} 2"#))
        #expect(lines.contains { $0.hasPrefix(#"hvd_operation_seconds_sum{operation="start"} 3.2"#) })
        #expect(lines.contains(#"hvd_worker_exits_total{reason="guest-shutdown"} 1"#))
        #expect(lines.contains("hvd_worker_restarts_total 1"))
        #expect(lines.contains(#"swifthv_vcpu_exits_total{vm="v",vcpu="0"} 9"#))
    }

    @Test func scrapeTimeSeriesDoNotOutliveTheirVMs() {
        let metrics = ServiceMetrics()
        _ = metrics.render(vmsByState: ["Running": 1], vcpuExits: [VCPUExitSample(vm: "gone", exits: [5])])
        let later = metrics.render(vmsByState: ["Off": 1], vcpuExits: [])
        #expect(!later.contains(#"vm="gone""#))
        #expect(!later.contains(#"state="Running""#))
    }
}
