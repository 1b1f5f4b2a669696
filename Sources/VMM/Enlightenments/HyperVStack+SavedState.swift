import Foundation
import HyperV
import SyntheticDevices
import VMBus

/// The Hyper-V side of a saved VM, as one versioned value (G14). Encoded as JSON by
/// `HyperVStack.saveState()`; the machine side stores the bytes in its saved-state file.
struct HyperVSavedState: Codable, Sendable, Equatable {
    /// Bumped when a field changes meaning; new optional fields do not bump it.
    static let currentVersion = 1

    var version: Int
    var partition: PartitionSavedState
    var synic: SynICSavedState
    var vmbus: VMBusHostSavedState
    var heartbeat: HeartbeatSavedState?
    var shutdown: ShutdownSavedState?
    var timeSync: TimeSyncSavedState?
    var keyValueExchange: KeyValueExchangeSavedState?
    var storage: StorageControllerSavedState?
    var networkAdapters: [NetworkAdapterSavedState]
}

extension HyperVStack {
    /// Quiesces the synthetic devices and captures the Hyper-V side of the VM.
    ///
    /// Call with every vCPU paused, and capture guest RAM *after* this returns: quiescing lets
    /// queued channel work finish (storvsp completions are written into the rings), stops the
    /// heartbeat timer and stops netvsc delivering host frames. They stay stopped; call
    /// `resumeAfterSave()` if the VM runs on instead of exiting.
    /// - Returns: the encoded state, for `restoreState(_:)` of a stack built from the same VM
    ///   configuration.
    public func saveState() throws(HyperVSavedStateError) -> Data {
        quiesce()
        let saved = HyperVSavedState(
            version: HyperVSavedState.currentVersion, partition: partition.captureState(), synic: synic.captureState(),
            vmbus: vmbus.captureState(), heartbeat: integrationServices.heartbeat?.captureState(),
            shutdown: integrationServices.shutdown?.captureState(), timeSync: integrationServices.timeSync?.captureState(),
            keyValueExchange: integrationServices.keyValueExchange?.captureState(), storage: storage?.captureState(),
            networkAdapters: networkAdapters.map { $0.captureState() })
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return try encoder.encode(saved)
        } catch {
            throw HyperVSavedStateError("hyperv", "encoding failed: \(error)")
        }
    }

    /// Undoes the quiescing of `saveState()` (the VM continues after a failed or checkpoint save).
    public func resumeAfterSave() {
        for adapter in networkAdapters { adapter.resumeDelivery() }
        integrationServices.heartbeat?.resumeTimer()
    }

    /// Restores the Hyper-V side into this freshly built stack (same VM configuration, so the
    /// same devices at the same relids), with guest RAM already restored and before the first
    /// `KVM_RUN`. Guest drivers continue without renegotiating; a time-sync SYNC sample is
    /// queued so the guest's wall clock catches up with the time spent saved.
    /// - Throws: `HyperVSavedStateError` naming the component and field refused (a corrupt or
    ///   foreign blob, a configuration that differs). The stack is then half restored: discard it.
    public func restoreState(_ data: Data) throws(HyperVSavedStateError) {
        let saved: HyperVSavedState
        do {
            saved = try JSONDecoder().decode(HyperVSavedState.self, from: data)
        } catch {
            throw HyperVSavedStateError("hyperv", "not a readable saved state: \(error)")
        }
        guard saved.version == HyperVSavedState.currentVersion else {
            throw HyperVSavedStateError("hyperv", "format version \(saved.version), expected \(HyperVSavedState.currentVersion)")
        }
        let services = integrationServices
        guard (saved.heartbeat != nil) == (services.heartbeat != nil), (saved.shutdown != nil) == (services.shutdown != nil),
            (saved.timeSync != nil) == (services.timeSync != nil),
            (saved.keyValueExchange != nil) == (services.keyValueExchange != nil), (saved.storage != nil) == (storage != nil),
            saved.networkAdapters.count == networkAdapters.count
        else {
            throw HyperVSavedStateError("hyperv", "the saved VM has different synthetic devices than this configuration")
        }
        try partition.restore(saved.partition)
        try synic.restore(saved.synic)
        try vmbus.restore(saved.vmbus)
        if let state = saved.heartbeat, let device = services.heartbeat {
            try device.restore(state, channel: vmbus.restoredEndpoint(for: device))
        }
        if let state = saved.shutdown, let device = services.shutdown {
            try device.restore(state, channel: vmbus.restoredEndpoint(for: device))
        }
        if let state = saved.timeSync, let device = services.timeSync {
            try device.restore(state, channel: vmbus.restoredEndpoint(for: device))
        }
        if let state = saved.keyValueExchange, let device = services.keyValueExchange {
            try device.restore(state, channel: vmbus.restoredEndpoint(for: device))
        }
        if let state = saved.storage, let device = storage {
            try device.restore(state, channel: vmbus.restoredEndpoint(for: device))
        }
        for (state, adapter) in zip(saved.networkAdapters, networkAdapters) {
            try adapter.restore(state, channel: vmbus.restoredEndpoint(for: adapter))
        }
        vmbus.resumeRestoredChannels()
        // The guest's wall clock stood still while saved: a SYNC sample sets it, as Hyper-V does
        // after a restore. Without a negotiated time-sync channel there is nothing to send.
        if services.timeSync?.negotiatedVersion != nil {
            do { try services.timeSync?.sendSample(flags: .sync) } catch {
                logger.notice("Hyper-V restore: time sample not sent: \(error)")
            }
        }
        logger.info("Hyper-V side restored: VMBus \(vmbus.negotiatedVersion.map { "\($0)" } ?? "not connected")")
    }

    /// Stops what writes into guest RAM on its own, then lets queued channel work finish.
    private func quiesce() {
        integrationServices.heartbeat?.pauseTimer()
        for adapter in networkAdapters { adapter.pauseDelivery() }
        vmbus.waitForIdle()
    }
}
