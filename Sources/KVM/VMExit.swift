/// Why `KVM_RUN` returned, decoded from `kvm_run` into safe values (G10). Produced by exactly
/// one function, `KVMRunPage.decodeExit()`.
public enum VMExit: Sendable, Hashable {
    /// `in` from `port`: `count` repetitions (string I/O) of `size` bytes each.
    case ioIn(port: UInt16, size: Int, count: Int)
    /// `out` to `port`: one value per repetition (string I/O gives several), each `size` bytes.
    case ioOut(port: UInt16, size: Int, values: [UInt64])
    /// A read of `size` bytes at a guest physical address backed by no memory slot.
    case mmioRead(address: UInt64, size: Int)
    /// A write of `size` bytes (`value`, little-endian) at an address backed by no memory slot.
    case mmioWrite(address: UInt64, size: Int, value: UInt64)
    /// `rdmsr` sent to user space (filter, unknown MSR).
    case rdmsr(index: UInt32, reason: MSRExitReason)
    /// `wrmsr` sent to user space.
    case wrmsr(index: UInt32, value: UInt64, reason: MSRExitReason)
    /// `hlt` (only without an in-kernel LAPIC).
    case hlt
    /// The guest triple-faulted (`KVM_EXIT_SHUTDOWN`).
    case shutdown
    /// `KVM_RUN` returned `EINTR` (a kick) or `immediate_exit` was set.
    case interrupted
    /// The hardware refused to enter the guest.
    case failEntry(reason: UInt64, cpu: UInt32)
    /// KVM could not handle an exit; for suberror 1 (emulation failure) with the instruction bytes.
    case internalError(InternalError)
    /// A system event (PSCI-style power off / reset / crash).
    case systemEvent(SystemEvent)
    /// An exit reason this VMM does not handle, or a `kvm_run` page that failed validation.
    case unknown(reason: UInt32, detail: String)
}

/// Why an MSR access was sent to user space (`KVM_MSR_EXIT_REASON_*`).
public struct MSRExitReason: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// A known MSR with an invalid value.
    public static let invalid = Self(rawValue: 1 << 0)
    /// An MSR KVM does not know.
    public static let unknown = Self(rawValue: 1 << 1)
    /// Denied by the MSR filter (`KVM_X86_SET_MSR_FILTER`).
    public static let filter = Self(rawValue: 1 << 2)
}

/// `KVM_EXIT_INTERNAL_ERROR` contents.
public struct InternalError: Sendable, Hashable, CustomStringConvertible {
    /// `KVM_INTERNAL_ERROR_*`; 1 is an emulation failure.
    public let suberror: UInt32
    /// `internal.data[0..<ndata]` (at most 16 values).
    public let data: [UInt64]
    /// For an emulation failure with `KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES`: the
    /// bytes of the instruction KVM could not emulate (at most 15).
    public let instructionBytes: [UInt8]?

    public static let emulationSuberror: UInt32 = 1

    public init(suberror: UInt32, data: [UInt64], instructionBytes: [UInt8]?) {
        self.suberror = suberror
        self.data = data
        self.instructionBytes = instructionBytes
    }

    public var isEmulationFailure: Bool { suberror == Self.emulationSuberror }

    public var description: String {
        var s = "internal error, suberror \(suberror)"
        if let bytes = instructionBytes {
            s += ", instruction bytes " + bytes.map { hexByte($0) }.joined(separator: " ")
        }
        return s
    }
}

/// `KVM_EXIT_SYSTEM_EVENT` contents.
public struct SystemEvent: Sendable, Hashable {
    /// `KVM_SYSTEM_EVENT_*` (open: unknown kinds are kept).
    public struct Kind: RawRepresentable, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let shutdown = Self(rawValue: 1)
        public static let reset = Self(rawValue: 2)
        public static let crash = Self(rawValue: 3)
        public static let wakeup = Self(rawValue: 4)
        public static let suspend = Self(rawValue: 5)
    }
    public let kind: Kind
    public let data: [UInt64]
    public init(kind: Kind, data: [UInt64]) {
        self.kind = kind
        self.data = data
    }
}

/// What user space hands back to KVM before the next `KVM_RUN`, per exit kind.
public enum ExitCompletion: Sendable, Hashable {
    /// Nothing to write back.
    case none
    /// Values for an `in` exit, one per repetition (missing ones read as all-ones).
    case ioIn([UInt64])
    /// The value an MMIO read returns.
    case mmioRead(UInt64)
    /// The value `rdmsr` returns; `nil` makes KVM inject #GP.
    case msrRead(UInt64?)
    /// Whether `wrmsr` is accepted; `false` makes KVM inject #GP.
    case msrWrite(accepted: Bool)
}

func hexByte(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}
