// swift-tools-version: 6.0
// SwiftHV: a Hyper-V-style virtualization platform for Linux, on KVM.
// Targets follow docs/ARCHITECTURE.md; dependencies point down only.
import PackageDescription

let strictSafety: [SwiftSetting] = []

let package = Package(
    name: "SwiftHV",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hv-worker", targets: ["hv-worker"]),
        .executable(name: "hvd", targets: ["hvd"]),
        .executable(name: "hv", targets: ["hv"]),
        .library(name: "VirtualDisk", targets: ["VirtualDisk"]),
        // The parsers that face guests and untrusted files, for the libFuzzer package in fuzz/.
        .library(name: "SwiftHVFuzzable", targets: ["VMBus", "HyperV", "GuestMemory", "VirtualDisk", "Boot", "SyntheticDevices"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // hvd's /metrics: the swift-metrics API with the Prometheus text exporter (adds swift-atomics).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // The one C shim: linux/kvm.h, fixed-arity ioctl wrappers, atomics on shared memory.
        .target(name: "CKVM"),
        .target(name: "GuestMemory", dependencies: ["CKVM"]),
        .target(
            name: "KVM",
            dependencies: ["CKVM", "GuestMemory", .product(name: "SystemPackage", package: "swift-system")]),
        .target(name: "Chipset", dependencies: ["GuestMemory", .product(name: "Logging", package: "swift-log")]),
        .target(name: "Boot", dependencies: ["GuestMemory"]),
        .target(name: "HyperV", dependencies: ["GuestMemory", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "VMBus", dependencies: ["GuestMemory", "HyperV", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "SyntheticDevices",
            dependencies: ["VMBus", "GuestMemory", "VirtualDisk", .product(name: "Logging", package: "swift-log")]),
        .target(name: "VirtualDisk"),
        .target(name: "Configuration"),
        .target(
            name: "VMM",
            dependencies: [
                "KVM", "GuestMemory", "Chipset", "Boot", "HyperV", "VMBus", "SyntheticDevices", "Configuration",
                "SocketTransport", "VirtualDisk", .product(name: "Logging", package: "swift-log"),
            ]),
        // The disk tools (create, inspect, convert, resize, merge, check), shared by hv and hv-worker.
        .target(
            name: "DiskCommands",
            dependencies: ["VirtualDisk", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .target(
            name: "WorkerCLI",
            dependencies: [
                "VMM", "VirtualDisk", "DiskCommands", "Configuration", "Boot", "SocketTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Unix and TCP stream sockets, TLS, length-prefixed frames and HTTP/1.1 framing: the one place
        // outside KVM/GuestMemory that touches sockaddr and OpenSSL pointers (control channel, API).
        // TLS for the optional TCP listener and for hv --host: the system OpenSSL (libssl-dev).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "SocketTransport", dependencies: ["COpenSSL"]),
        .target(
            name: "ManagementService",
            dependencies: [
                // VirtualDisk: attach-time checks open images read-only (format, size, a sound VHDX).
                "Configuration", "SocketTransport", "VirtualDisk", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .target(name: "HVClient", dependencies: ["Configuration", "SocketTransport"]),
        .target(
            name: "HVCommands",
            dependencies: [
                "HVClient", "Configuration", "DiskCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "hvd",
            dependencies: [
                "ManagementService", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(name: "hv", dependencies: ["HVCommands"]),
        .executableTarget(
            name: "hv-worker", dependencies: ["WorkerCLI", .product(name: "Logging", package: "swift-log")]),
        // Disk backend benchmark (not a test): swift run -c release disk-bench
        .executableTarget(name: "disk-bench", dependencies: ["VirtualDisk"], path: "bench/disk"),
        // VMBus host-side cost (messages/s, ring GB/s vs memcpy): swift run -c release vmbus-bench
        .executableTarget(
            name: "vmbus-bench", dependencies: ["VMBus", "HyperV", "GuestMemory", "SyntheticDevices"], path: "bench/vmbus"),
        // Storage VSP cost (EXECUTE_SRB through storvsp vs direct disk I/O): swift run -c release storage-bench
        .executableTarget(
            name: "storage-bench", dependencies: ["SyntheticDevices", "VMBus", "GuestMemory", "VirtualDisk"],
            path: "bench/storage"),
        // Hypercall round trip with a tiny guest on /dev/kvm: swift run -c release hypercall-bench
        .executableTarget(
            name: "hypercall-bench", dependencies: [
                "VMM", "KVM", "HyperV", "GuestMemory", "Chipset", "Boot", .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/hypercall"),
        // Management API benchmark (not a test): swift run -c release api-bench
        .executableTarget(name: "api-bench", dependencies: ["HVClient", "Configuration", "SocketTransport"], path: "bench/api",
            exclude: ["schemathesis.sh", "tcp-bridge.py"]),

        // Helpers shared by test targets (seeded generators); not part of the product.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The in-process VMBus guest (driver, rings, SynIC double, byte helpers) and saved-state
        // helpers, shared by the HyperV, VMBus and SyntheticDevices tests; not part of the product.
        .target(name: "VMBusTestSupport", dependencies: ["VMBus", "HyperV", "GuestMemory"], path: "Tests/VMBusTestSupport"),
        .testTarget(name: "GuestMemoryTests", dependencies: ["GuestMemory"]),
        .testTarget(name: "KVMTests", dependencies: ["KVM", "GuestMemory"]),
        .testTarget(name: "ChipsetTests", dependencies: ["Chipset", "GuestMemory"]),
        .testTarget(name: "BootTests", dependencies: ["TestSupport", "Boot", "GuestMemory"]),
        .testTarget(name: "HyperVTests", dependencies: ["VMBusTestSupport", "HyperV", "GuestMemory"]),
        .testTarget(name: "VMBusTests", dependencies: ["TestSupport", "VMBusTestSupport", "VMBus", "HyperV", "GuestMemory", "SyntheticDevices"]),
        .testTarget(name: "VirtualDiskTests", dependencies: ["TestSupport", "VirtualDisk"]),
        .testTarget(
            name: "SyntheticDevicesTests",
            dependencies: ["TestSupport", "VMBusTestSupport", "SyntheticDevices", "VMBus", "GuestMemory", "VirtualDisk", "HyperV", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "VMMTests", dependencies: ["VMM", "KVM", "GuestMemory", "Chipset", "Boot", "Configuration", "SyntheticDevices", "VirtualDisk"]),
        .testTarget(name: "WorkerCLITests", dependencies: ["WorkerCLI"]),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(
            name: "ManagementServiceTests",
            dependencies: ["ManagementService", "HVClient", "Configuration", "SocketTransport", "hvd", "hv", "hv-worker"]),
        .testTarget(name: "HVCommandsTests", dependencies: ["HVCommands", "HVClient", "Configuration", "SocketTransport"]),
        // The guest suite: boots real kernels under hv-worker (scripts/test-guest); slow, separate.
        .testTarget(name: "GuestAcceptanceTests", dependencies: ["hv-worker"]),
    ],
    swiftLanguageModes: [.v6]
)
