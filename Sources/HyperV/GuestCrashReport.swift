/// What a guest reported through the crash MSRs (HV_X64_MSR_CRASH_P0..P4, CRASH_CTL).
///
/// Linux 6.1 writes either its registers (`hyperv_report_panic`: P0 = error code, P1 = guest OS
/// id, P2 = RIP, P3 = RAX, P4 = RSP) or, with CRASH_NOTIFY_MSG, a kernel-log page
/// (`hyperv_report_panic_msg`: P3 = GPA, P4 = length). The VMM logs it.
public struct GuestCrashReport: Hashable, Sendable, CustomStringConvertible {
    /// The VP that wrote CRASH_CTL.
    public var vp: Int
    /// P0...P4 as written.
    public var parameters: [UInt64]
    /// The kernel log text when the guest sent one (at most one page, lossily decoded).
    public var message: String?

    public init(vp: Int, parameters: [UInt64], message: String?) {
        self.vp = vp
        self.parameters = parameters
        self.message = message
    }

    public var description: String {
        let p = parameters.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
        return "guest crash on VP \(vp): P0-P4 = \(p)" + (message.map { "\n\($0)" } ?? "")
    }
}

/// How the partition tells the VMM about guest requests that change the VM's state.
public struct HyperVEventHandlers: Sendable {
    /// The guest wrote CRASH_CTL with CRASH_NOTIFY. Called on the vCPU thread.
    public var guestCrashed: @Sendable (GuestCrashReport) -> Void
    /// The guest wrote 1 to HV_X64_MSR_RESET. Called on the vCPU thread.
    public var resetRequested: @Sendable () -> Void

    public init(
        guestCrashed: @escaping @Sendable (GuestCrashReport) -> Void = { _ in },
        resetRequested: @escaping @Sendable () -> Void = {}
    ) {
        self.guestCrashed = guestCrashed
        self.resetRequested = resetRequested
    }
}
