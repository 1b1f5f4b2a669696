import Logging
import Synchronization
import VMBus

/// What the guest should do (`shutdown_msg_data.flags`; Linux `shutdown_onchannelcallback`).
public struct ShutdownKind: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let powerOff = Self(rawValue: 0)
    public static let forcedPowerOff = Self(rawValue: 1)
    public static let reboot = Self(rawValue: 2)
    public static let forcedReboot = Self(rawValue: 3)
    public static let hibernate = Self(rawValue: 4)
}

/// Progress of a host-requested shutdown.
public enum ShutdownStatus: Sendable, Equatable {
    /// Not negotiated (the guest's hv_utils is not running).
    case unavailable
    /// Negotiated; no request outstanding.
    case ready
    /// Sent; waiting for the guest's answer.
    case requested(ShutdownKind)
    /// The guest accepted and is shutting down (it then powers off through ACPI).
    case accepted(ShutdownKind)
    /// The guest refused (`status` from its answer, e.g. HV_E_FAIL for an unknown kind).
    case refused(status: UInt32)
}

/// The shutdown integration service (`0e0b6031-…`): sends `shutdown_msg_data { u32 reason_code;
/// u32 timeout_seconds; u32 flags; u8 display_message[2048]; }` (2060 bytes).
///
/// ## Concurrency model
/// Device callbacks on the host's device queue; `requestShutdown` and `status` from any thread.
public final class ShutdownService: VMBusDevice {
    public static let messageVersions = [ICVersion(1, 0), ICVersion(3, 0), ICVersion(3, 1), ICVersion(3, 2)]
    public static let dataSize = 2060
    /// SHTDN_REASON_FLAG_PLANNED: Hyper-V's reason for a host-initiated shutdown.
    public static let plannedReason: UInt32 = 0x8000_0000

    public let offer: ChannelOfferInfo
    let engine: ICEngine
    let state = Mutex(ShutdownStatus.unavailable)

    public init(instanceID: GUID = ICGUIDs.shutdownInstance, logger: Logger = Logger(label: "swifthv.ic.shutdown")) {
        offer = ICLayout.offer(classID: ICGUIDs.shutdownClass, instanceID: instanceID)
        engine = ICEngine(name: "shutdown", messageVersions: Self.messageVersions, logger: logger)
    }

    public var status: ShutdownStatus { state.withLock { $0 } }

    /// Asks the guest to shut down gracefully.
    /// - Parameters:
    ///   - message: shown by Windows guests; UTF-16 on the wire, at most 1023 characters.
    /// - Throws: `ICError.notNegotiated` when the guest's shutdown service is not running.
    public func requestShutdown(
        _ kind: ShutdownKind = .powerOff, timeoutSeconds: UInt32 = 0, message: String = ""
    ) throws(ICError) {
        var data = WireWriter(size: Self.dataSize)
        data.store(Self.plannedReason, at: 0)
        data.store(timeoutSeconds, at: 4)
        data.store(kind.rawValue, at: 8)
        let utf16 = Array(message.utf16.prefix(1023))
        for (index, unit) in utf16.enumerated() { data.store(unit, at: 12 + 2 * index) }
        try engine.send(.shutdown, data: data.bytes)
        state.withLock { $0 = .requested(kind) }
    }

    public func opened(channel: ChannelEndpoint) {
        state.withLock { $0 = .unavailable }
        engine.opened(channel)
    }

    public func packetReceived(_ packet: VMBusPacket, channel: ChannelEndpoint) {
        switch engine.handle(packet) {
        case .negotiated:
            state.withLock { $0 = .ready }
        case .response(let header, _):
            guard header.messageType == .shutdown else { return }
            state.withLock { status in
                guard case .requested(let kind) = status else { return }
                status = header.status == ICStatus.ok ? .accepted(kind) : .refused(status: header.status)
            }
        case .negotiationFailed, nil:
            return
        }
    }

    public func closed(channel: ChannelEndpoint) {
        engine.closed()
        state.withLock { status in
            // An accepted shutdown stays visible: the guest closes channels on its way down.
            if case .accepted = status { return }
            status = .unavailable
        }
    }
}
