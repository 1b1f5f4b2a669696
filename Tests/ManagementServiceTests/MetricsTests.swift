import ManagementService
import Testing

/// The Prometheus text for per-vCPU exits: one series per vCPU, label values escaped.
@Suite struct MetricsTests {
    @Test func vcpuExitSeriesFormat() {
        let text = ServiceMetrics.renderVCPUExits([
            VCPUExitSample(vm: "web", exits: [12, 0]),
            VCPUExitSample(vm: "db", exits: [3]),
        ])
        #expect(text == """
            # HELP swifthv_vcpu_exits_total vCPU exits to user space (KVM_RUN returns) of running VMs.
            # TYPE swifthv_vcpu_exits_total counter
            swifthv_vcpu_exits_total{vm="db",vcpu="0"} 3
            swifthv_vcpu_exits_total{vm="web",vcpu="0"} 12
            swifthv_vcpu_exits_total{vm="web",vcpu="1"} 0

            """)
    }

    @Test func labelValuesAreEscaped() {
        let text = ServiceMetrics.renderVCPUExits([VCPUExitSample(vm: "a\"b\\c\nd", exits: [1])])
        #expect(text.contains(#"swifthv_vcpu_exits_total{vm="a\"b\\c\nd",vcpu="0"} 1"#))
        #expect(text.split(separator: "\n").count == 3, "a newline in a name must not start a new line")
    }

    @Test func fullExpositionCarriesTheSeriesAndTheirType() {
        let text = ServiceMetrics().render(vmsByState: ["Off": 1], vcpuExits: [VCPUExitSample(vm: "v", exits: [9])])
        #expect(text.contains("# TYPE swifthv_vcpu_exits_total counter\n"))
        #expect(text.contains("swifthv_vcpu_exits_total{vm=\"v\",vcpu=\"0\"} 9\n"))
        #expect(text.contains("hvd_vms{state=\"Off\"} 1\n"))
    }
}
