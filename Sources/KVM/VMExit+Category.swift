/// A coarse exit reason for counters (Prometheus labels, status reports): one per `VMExit` case,
/// with port and MMIO reads and writes folded together.
public enum VMExitCategory: String, Sendable, CaseIterable {
    case io, mmio, msr, hlt, shutdown, interrupted, failEntry = "fail_entry", internalError = "internal_error"
    case systemEvent = "system_event", unknown

    /// Position in `allCases`, for fixed-size counter arrays.
    public var ordinal: Int {
        switch self {
        case .io: 0
        case .mmio: 1
        case .msr: 2
        case .hlt: 3
        case .shutdown: 4
        case .interrupted: 5
        case .failEntry: 6
        case .internalError: 7
        case .systemEvent: 8
        case .unknown: 9
        }
    }
}

extension VMExit {
    public var category: VMExitCategory {
        switch self {
        case .ioIn, .ioOut: .io
        case .mmioRead, .mmioWrite: .mmio
        case .rdmsr, .wrmsr: .msr
        case .hlt: .hlt
        case .shutdown: .shutdown
        case .interrupted: .interrupted
        case .failEntry: .failEntry
        case .internalError: .internalError
        case .systemEvent: .systemEvent
        case .unknown: .unknown
        }
    }
}
