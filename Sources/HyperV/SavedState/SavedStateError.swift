/// Why a saved state of the Hyper-V side (partition, SynIC, VMBus, synthetic devices) was refused
/// on restore. The blob comes from a file, so it is treated as hostile: every bad field becomes
/// one of these, naming the component and the field, never a crash.
public struct HyperVSavedStateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The component that refused it ("synic vp1", "vmbus channel 3", "netvsc 0").
    public var component: String
    /// What is wrong, naming the field and value.
    public var reason: String

    public init(_ component: String, _ reason: String) {
        self.component = component
        self.reason = reason
    }

    public var description: String { "saved state of \(component) refused: \(reason)" }
}
