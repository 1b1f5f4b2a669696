/// Why a saved-state file could not be written, read or applied. The message says what was
/// wrong and, where there is one, what to do.
public struct SavedStateError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
