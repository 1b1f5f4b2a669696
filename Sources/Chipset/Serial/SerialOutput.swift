/// Where a UART's transmitted bytes go (a console log, a pty, a test recorder).
///
/// Called on the vCPU thread that wrote the transmit register, outside the device lock: keep it
/// quick and non-blocking, or hand the bytes to another thread.
public protocol SerialOutput: Sendable {
    func write(_ bytes: [UInt8])
}

/// A `SerialOutput` from a closure.
public struct SerialOutputClosure: SerialOutput {
    private let body: @Sendable ([UInt8]) -> Void
    public init(_ body: @escaping @Sendable ([UInt8]) -> Void) { self.body = body }
    public func write(_ bytes: [UInt8]) { body(bytes) }
}

/// A `SerialOutput` that drops everything (a UART with nothing attached).
public struct DiscardingSerialOutput: SerialOutput {
    public init() {}
    public func write(_ bytes: [UInt8]) {}
}
