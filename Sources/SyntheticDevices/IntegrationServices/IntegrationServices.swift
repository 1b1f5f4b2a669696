import Dispatch
import Logging
import VMBus

/// Which integration services a VM gets; each can be enabled or disabled.
public struct IntegrationServicesConfiguration: Sendable {
    public var heartbeat: Bool
    public var shutdown: Bool
    public var timeSync: Bool
    public var keyValueExchange: Bool
    /// Heartbeat period; `nil` leaves ticking to the caller.
    public var heartbeatInterval: DispatchTimeInterval?

    public init(
        heartbeat: Bool = true, shutdown: Bool = true, timeSync: Bool = true, keyValueExchange: Bool = true,
        heartbeatInterval: DispatchTimeInterval? = .seconds(1)
    ) {
        self.heartbeat = heartbeat
        self.shutdown = shutdown
        self.timeSync = timeSync
        self.keyValueExchange = keyValueExchange
        self.heartbeatInterval = heartbeatInterval
    }
}

/// The enabled integration services of one VM, registered on its VMBus host.
public struct IntegrationServices: Sendable {
    public let heartbeat: HeartbeatService?
    public let shutdown: ShutdownService?
    public let timeSync: TimeSyncService?
    public let keyValueExchange: KeyValueExchangeService?

    /// Creates the enabled services and registers them with `host` (offered when the guest asks).
    /// - Parameter clock: time source for time synchronization.
    public init(
        configuration: IntegrationServicesConfiguration, clock: TimeSyncClock, host: VMBusHost
    ) throws(VMBusHostError) {
        heartbeat = configuration.heartbeat ? HeartbeatService(interval: configuration.heartbeatInterval) : nil
        shutdown = configuration.shutdown ? ShutdownService() : nil
        timeSync = configuration.timeSync ? TimeSyncService(clock: clock) : nil
        keyValueExchange = configuration.keyValueExchange ? KeyValueExchangeService() : nil
        let devices: [(any VMBusDevice)?] = [shutdown, timeSync, heartbeat, keyValueExchange]
        for device in devices.compactMap({ $0 }) { try host.addDevice(device) }
    }
}
