import SyntheticDevices

extension VMInstance {
    /// One line per integration service, for `hv-worker` status requests (SIGUSR1, Ctrl-] i).
    public func integrationServicesReport() -> [String] {
        guard let hyperV else { return ["Hyper-V enlightenments: off"] }
        var lines = ["vmbus: " + (hyperV.vmbus.negotiatedVersion.map { "connected, version \($0)" } ?? "guest not connected")]
        let ics = hyperV.integrationServices
        if let heartbeat = ics.heartbeat {
            switch heartbeat.status {
            case .unknown: lines.append("heartbeat: no answer yet")
            case .healthy(let sequence): lines.append("heartbeat: healthy, sequence \(sequence)")
            case .lost: lines.append("heartbeat: lost (the guest stopped answering)")
            }
        }
        if let shutdown = ics.shutdown { lines.append("shutdown: \(shutdown.status)") }
        if let timeSync = ics.timeSync {
            lines.append("timesync: " + (timeSync.negotiatedVersion.map { "negotiated version \($0)" } ?? "not negotiated"))
        }
        if let kvp = ics.keyValueExchange {
            // The guest's KVP daemon answers enumerations of the auto pool (FQDN, OS, IP
            // addresses); ask for a fresh one each time, so the next report shows current values.
            if kvp.isNegotiated && kvp.isIdle { try? kvp.enumerate(pool: .auto) }
            let state =
                kvp.isNegotiated
                ? "negotiated" : kvp.isChannelOpen ? "channel open, waiting for the guest's KVP daemon" : "channel closed"
            var line = "kvp: \(state)"
            let guest = kvp.guestValues(pool: .guest).merging(kvp.guestValues(pool: .auto)) { a, _ in a }
            if !guest.isEmpty {
                line += "; " + guest.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
            }
            lines.append(line)
        }
        if let storage = devices.storage {
            let state = storage.isReady ? "ready, protocol \(storage.protocolVersion.map { "\($0)" } ?? "?")" : "waiting for the guest"
            lines.append("scsi: \(state)")
            for lun in storage.lunStatus {
                let s = lun.statistics
                lines.append(
                    "  lun \(lun.lun): \(lun.path)\(lun.readOnly ? " (read-only)" : ""), \(lun.sizeBytes >> 20) MiB; "
                        + "\(s.reads) reads (\(s.bytesRead) bytes), \(s.writes) writes (\(s.bytesWritten) bytes), "
                        + "\(s.flushes) flushes, \(s.errors) errors")
            }
        }
        lines += networkAdaptersReport()
        return lines
    }
}

extension VMInstance {
    /// One line per network adapter: MAC, TAP, link and counters.
    public func networkAdaptersReport() -> [String] {
        guard hyperV != nil else { return [] }
        return devices.networkAdapters.enumerated().map { index, adapter in
            let s = adapter.status
            let t = s.statistics
            return "nic\(index): mac \(s.macAddress), tap \(s.backend), link \(s.linkUp ? "up" : "down"); "
                + "rx \(t.rxPackets) packets \(t.rxBytes) bytes \(t.rxDrops) drops; "
                + "tx \(t.txPackets) packets \(t.txBytes) bytes \(t.txDrops) drops"
                + (t.protocolErrors > 0 ? "; \(t.protocolErrors) protocol errors" : "")
        }
    }
}
