/// The VMM library's error: a code callers can switch on, a message, and the cause.
public struct VMMError: Error, Sendable, CustomStringConvertible {
    /// Extensible error codes.
    public struct Code: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// KVM refused to create or configure the VM.
        public static let kvmSetup = Self(rawValue: "kvmSetup")
        /// The configuration is not usable (no vCPUs, too many, ...).
        public static let invalidConfiguration = Self(rawValue: "invalidConfiguration")
        /// The operation does not fit the machine's state (run twice, ...).
        public static let invalidState = Self(rawValue: "invalidState")
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
