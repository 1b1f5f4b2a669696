/// The one error type of the VirtualDisk library: a code callers can switch on, a message
/// that names what is wrong (and, where it helps, what to do), and an optional cause.
public struct VirtualDiskError: Error, CustomStringConvertible, Sendable {
    /// Broad classes of failure; an open set so new codes don't break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The file is not a valid image of the expected format (bad signature, checksum, layout).
        public static let corrupt = Code(rawValue: "corrupt")
        /// The image uses a feature this library does not implement.
        public static let unsupported = Code(rawValue: "unsupported")
        /// A system call failed.
        public static let io = Code(rawValue: "io")
        /// An argument is invalid (size, block size, path).
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// The access lies outside the virtual disk.
        public static let outOfRange = Code(rawValue: "out-of-range")
        /// A modification was attempted on a read-only disk.
        public static let readOnly = Code(rawValue: "read-only")
        /// The disk has been closed.
        public static let closed = Code(rawValue: "closed")
        /// A file that should exist does not, or one that should not exist does.
        public static let notFound = Code(rawValue: "not-found")
        /// A differencing disk's parent is missing, changed, or forms a loop.
        public static let parent = Code(rawValue: "parent")
        public var description: String { rawValue }
    }

    public let code: Code
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message) (\(cause))" }
        return message
    }

    static func corrupt(_ message: String) -> VirtualDiskError { VirtualDiskError(.corrupt, message) }
}
