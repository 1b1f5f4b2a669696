import Configuration

/// Why a VM could not be built or started, phrased for the person who asked.
public enum VMBuildError: Error, Sendable, CustomStringConvertible {
    case invalidConfiguration([ConfigurationError])
    case kvmUnavailable(any Error & Sendable)
    case step(String, any Error & Sendable)

    public var description: String {
        switch self {
        case .invalidConfiguration(let problems):
            "invalid VM configuration: " + problems.map(\.description).joined(separator: "; ")
        case .kvmUnavailable(let error):
            "KVM is not usable (\(error)); check that /dev/kvm exists and that you may open it (root or the kvm group)"
        case .step(let step, let error):
            "cannot \(step): \(error)"
        }
    }
}

/// KVM reported a TSC frequency of zero.
struct KVMUnknownTSC: Error, CustomStringConvertible {
    var description: String { "KVM reports no TSC frequency" }
}

/// A graceful shutdown could not be requested; `reason` says why.
public struct GracefulShutdownUnavailable: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
