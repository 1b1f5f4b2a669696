import Foundation

/// Where the guest suite finds its inputs, and why it skips when it cannot run.
/// `scripts/test-guest` builds the images and sets the variables; run alone, the suite skips
/// loudly naming what is missing.
enum GuestEnvironment {
    static let kernel = ProcessInfo.processInfo.environment["SWIFTHV_TEST_KERNEL"]
    static let initramfs = ProcessInfo.processInfo.environment["SWIFTHV_TEST_INITRAMFS"]

    /// `hv-worker` beside the test bundle (same build folder).
    static var worker: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("hv-worker")
    }

    /// nil when the suite can run, otherwise the reason it cannot.
    static var skipReason: String? {
        if access("/dev/kvm", R_OK | W_OK) != 0 { return "/dev/kvm is missing or not accessible" }
        guard let kernel, FileManager.default.fileExists(atPath: kernel) else {
            return "SWIFTHV_TEST_KERNEL is not set to a built test kernel (run scripts/test-guest)"
        }
        guard let initramfs, FileManager.default.fileExists(atPath: initramfs) else {
            return "SWIFTHV_TEST_INITRAMFS is not set to a built initramfs (run scripts/test-guest)"
        }
        guard FileManager.default.isExecutableFile(atPath: worker.path) else {
            return "hv-worker is not built at \(worker.path)"
        }
        return nil
    }

    static var canRun: Bool {
        if let reason = skipReason {
            print("GuestAcceptanceTests SKIPPED: \(reason)")
            return false
        }
        return true
    }
}
