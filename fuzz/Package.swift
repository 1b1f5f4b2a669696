// swift-tools-version: 6.0
// libFuzzer targets for the parsers that face the guest or untrusted files. A separate package so
// the main build never needs the fuzzer runtime; build and run with ../scripts/fuzz.
import PackageDescription

// Coverage and AddressSanitizer flags are given on the command line by ../scripts/fuzz, so every
// module (SwiftHV's parsers too) is instrumented. libFuzzer's driver is linked without its own
// `main` (SwiftPM owns the executable's entry point); each main.swift calls the driver.
let fuzzerLink: [LinkerSetting] = [
    .unsafeFlags(["-Xlinker", "/opt/swift/usr/lib/swift/clang/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a", "-lstdc++"])
]

let package = Package(
    name: "SwiftHVFuzz",
    // `.root/SwiftHV` is a symlink to the repository root, so the package identity is "SwiftHV"
    // whatever the checkout folder is called.
    dependencies: [
        .package(path: ".root/SwiftHV"), .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "FuzzDriver", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "fuzz-vmbus",
            dependencies: ["FuzzDriver", .product(name: "SwiftHVFuzzable", package: "SwiftHV")],
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-vhdx",
            dependencies: ["FuzzDriver", .product(name: "SwiftHVFuzzable", package: "SwiftHV")],
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-storvsp",
            dependencies: ["FuzzDriver", .product(name: "SwiftHVFuzzable", package: "SwiftHV")],
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-netvsc",
            dependencies: [
                "FuzzDriver", .product(name: "SwiftHVFuzzable", package: "SwiftHV"),
                .product(name: "Logging", package: "swift-log"),
            ],
            linkerSettings: fuzzerLink),
        .executableTarget(
            name: "fuzz-linux-loader",
            dependencies: ["FuzzDriver", .product(name: "SwiftHVFuzzable", package: "SwiftHV")],
            linkerSettings: fuzzerLink),
    ],
    swiftLanguageModes: [.v6]
)
