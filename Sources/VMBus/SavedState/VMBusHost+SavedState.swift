import GuestMemory
import HyperV

extension VMBusHost {
    /// Captures the host's bookkeeping. Call with every vCPU paused and after `waitForIdle()`,
    /// so no drain is half done (the private read index equals the published one).
    public func captureState() -> VMBusHostSavedState {
        state.withLock { state in
            VMBusHostSavedState(
                connection: state.connection.map { .init(version: $0.version.rawValue, targetVP: $0.targetVP, sint: $0.sint) },
                offersRequested: state.offersRequested, lastTargetVP: state.lastTargetVP, lastSINT: state.lastSINT,
                channels: state.channels.keys.sorted().compactMap { relID in state.channels[relID].map(savedChannel) },
                gpadls: state.gpadls.keys.sorted().compactMap { handle in
                    state.gpadls[handle].map { gpadl in
                        .init(
                            handle: gpadl.handle, relID: gpadl.relID,
                            ranges: gpadl.ranges.map { .init(byteCount: $0.byteCount, byteOffset: $0.byteOffset, pfns: $0.pfns) })
                    }
                },
                pendingGPADLs: state.pending.keys.sorted().compactMap { handle in
                    state.pending[handle].map {
                        .init(handle: $0.handle, relID: $0.relID, rangeCount: $0.rangeCount, bufferLength: $0.bufferLength, bytes: $0.bytes)
                    }
                })
        }
    }

    private func savedChannel(_ record: ChannelRecord) -> VMBusHostSavedState.ChannelState {
        let info = record.device.offer
        var saved = VMBusHostSavedState.ChannelState(
            relID: record.relID, classID: info.classID.wireBytes, instanceID: info.instanceID.wireBytes,
            offeredToGuest: record.offeredToGuest, phase: .offered, ring: nil)
        // A rescinded channel (hot-removed, waiting for the guest's release) is saved as rescinded
        // without its ring; VMInstance refuses to save a VM whose devices changed since it started.
        if record.rescinded {
            saved.phase = .rescinded
            return saved
        }
        switch record.runtime {
        case .closed: break
        case .open(let channel):
            saved.phase = .open
            saved.ring = channel.endpoint.state.withLock { s in
                .init(
                    gpadl: record.ringGPADL ?? 0, downstreamPageOffset: 1 + s.reader.ring.dataPages.count,
                    targetVP: s.targetVP, readIndex: s.reader.readIndex, writeIndex: s.writer.writeIndex,
                    waitingForSpace: s.waitingForSpace, faulted: !s.open)
            }
        }
        return saved
    }

    /// Restores the bookkeeping into a host built from the same configuration, with the same
    /// devices registered in the same order, and guest RAM already restored. Open channels get
    /// their endpoints back without `opened` being called (the devices restore their own state
    /// next, see `restoredEndpoint(for:)`); no ring is drained until `resumeRestoredChannels()`.
    /// - Throws: `HyperVSavedStateError` naming the channel or GPADL that does not fit: a relid
    ///   with no such device, a GPADL page outside RAM, a ring GPADL that does not exist.
    public func restore(_ saved: VMBusHostSavedState) throws(HyperVSavedStateError) {
        let result: Result<Void, HyperVSavedStateError> = state.withLock { state in
            do throws(HyperVSavedStateError) {
                state = try restoredState(saved, from: state)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    /// The endpoint of `device`'s channel when it is open (after `restore`), else nil.
    public func restoredEndpoint(for device: any VMBusDevice) -> ChannelEndpoint? {
        state.withLock { state in
            for record in state.channels.values where record.device === device {
                if case .open(let channel) = record.runtime { return channel.endpoint }
            }
            return nil
        }
    }

    /// Starts draining the restored channels' rings (packets the guest queued before the save,
    /// or while paused). Call once every device has restored its state.
    public func resumeRestoredChannels() {
        let channels = state.withLock { state in
            state.channels.values.compactMap { record -> ActiveChannel? in
                if case .open(let channel) = record.runtime { return channel }
                return nil
            }
        }
        for channel in channels { channel.signal() }
    }

    // MARK: validation (lock held)

    private func restoredState(_ saved: VMBusHostSavedState, from current: HostState) throws(HyperVSavedStateError)
        -> HostState
    {
        guard current.connection == nil, current.gpadls.isEmpty, current.pending.isEmpty,
            current.channels.values.allSatisfy({ $0.phase == .offered && !$0.offeredToGuest })
        else { throw HyperVSavedStateError("vmbus", "the host is already connected; restore needs a fresh one") }
        var state = current
        try restoreConnection(saved, into: &state)
        try restoreGPADLs(saved, into: &state)
        let savedRelIDs = Set(saved.channels.map(\.relID))
        guard savedRelIDs.count == saved.channels.count else {
            throw HyperVSavedStateError("vmbus", "a relid appears twice among the saved channels")
        }
        for relID in current.channels.keys where !savedRelIDs.contains(relID) {
            throw HyperVSavedStateError("vmbus channel \(relID)", "registered device missing from the saved state")
        }
        for channel in saved.channels {
            try restoreChannel(channel, into: &state)
        }
        return state
    }

    private func restoreConnection(_ saved: VMBusHostSavedState, into state: inout HostState) throws(HyperVSavedStateError) {
        let component = "vmbus connection"
        guard saved.lastTargetVP < configuration.vpCount, (1..<16).contains(saved.lastSINT) else {
            throw HyperVSavedStateError(component, "reply target VP \(saved.lastTargetVP) SINT \(saved.lastSINT)")
        }
        state.lastTargetVP = saved.lastTargetVP
        state.lastSINT = saved.lastSINT
        state.offersRequested = saved.offersRequested && saved.connection != nil
        guard let connection = saved.connection else { return }
        let version = VMBusVersion(rawValue: connection.version)
        guard configuration.supportedVersions.contains(version) else {
            throw HyperVSavedStateError(component, "version \(version) is not supported by this host")
        }
        guard connection.targetVP < configuration.vpCount, (1..<16).contains(connection.sint) else {
            throw HyperVSavedStateError(component, "target VP \(connection.targetVP) SINT \(connection.sint)")
        }
        state.connection = Connection(version: version, targetVP: connection.targetVP, sint: connection.sint)
    }

    private func restoreGPADLs(_ saved: VMBusHostSavedState, into state: inout HostState) throws(HyperVSavedStateError) {
        guard saved.gpadls.count + saved.pendingGPADLs.count <= configuration.maxGPADLs,
            saved.pendingGPADLs.count <= configuration.maxPendingGPADLs
        else {
            throw HyperVSavedStateError(
                "vmbus", "\(saved.gpadls.count) GPADLs and \(saved.pendingGPADLs.count) pending exceed the host's limits")
        }
        for gpadl in saved.gpadls {
            let component = "vmbus GPADL 0x\(String(gpadl.handle, radix: 16))"
            guard saved.connection != nil else { throw HyperVSavedStateError(component, "GPADL without a connection") }
            guard state.gpadls[gpadl.handle] == nil else { throw HyperVSavedStateError(component, "handle appears twice") }
            guard state.channels[gpadl.relID] != nil else {
                throw HyperVSavedStateError(component, "relid \(gpadl.relID) has no channel")
            }
            guard !gpadl.ranges.isEmpty else { throw HyperVSavedStateError(component, "no ranges") }
            var pages = 0
            for range in gpadl.ranges {
                guard range.byteCount > 0, range.byteOffset < UInt32(RingBufferLayout.pageSize),
                    range.pfns.count == GPARange.pageCount(byteOffset: range.byteOffset, byteCount: range.byteCount)
                else {
                    throw HyperVSavedStateError(
                        component, "range of \(range.byteCount) bytes at offset \(range.byteOffset) with \(range.pfns.count) PFNs")
                }
                pages += range.pfns.count
                guard pages <= configuration.maxGPADLPages else { throw HyperVSavedStateError(component, "over \(pages) pages") }
                for pfn in range.pfns {
                    guard pfn < (1 << 52),
                        memory.isValid(GuestPhysicalAddress(pageNumber: pfn), count: UInt64(RingBufferLayout.pageSize))
                    else { throw HyperVSavedStateError(component, "page 0x\(String(pfn, radix: 16)) is outside RAM") }
                }
            }
            state.gpadls[gpadl.handle] = GPADL(
                handle: gpadl.handle, relID: gpadl.relID,
                ranges: gpadl.ranges.map { GPARange(byteCount: $0.byteCount, byteOffset: $0.byteOffset, pfns: $0.pfns) })
        }
        for pending in saved.pendingGPADLs {
            let component = "vmbus pending GPADL 0x\(String(pending.handle, radix: 16))"
            guard state.gpadls[pending.handle] == nil, state.pending[pending.handle] == nil else {
                throw HyperVSavedStateError(component, "handle appears twice")
            }
            guard state.channels[pending.relID] != nil else {
                throw HyperVSavedStateError(component, "relid \(pending.relID) has no channel")
            }
            do throws(GPADLError) {
                state.pending[pending.handle] = try PendingGPADL(
                    handle: pending.handle, relID: pending.relID, rangeCount: pending.rangeCount,
                    bufferLength: pending.bufferLength, bytes: pending.bytes)
            } catch {
                throw HyperVSavedStateError(component, "\(error)")
            }
        }
    }

    private func restoreChannel(_ saved: VMBusHostSavedState.ChannelState, into state: inout HostState)
        throws(HyperVSavedStateError)
    {
        let component = "vmbus channel \(saved.relID)"
        guard var record = state.channels[saved.relID] else {
            throw HyperVSavedStateError(component, "no device is registered at this relid")
        }
        let offer = record.device.offer
        guard offer.classID.wireBytes == saved.classID, offer.instanceID.wireBytes == saved.instanceID else {
            throw HyperVSavedStateError(
                component, "saved device \(GUID(wireBytes: saved.instanceID)) is not the registered \(offer.instanceID)")
        }
        record.offeredToGuest = saved.offeredToGuest && state.connection != nil
        switch saved.phase {
        case .offered:
            guard saved.ring == nil else { throw HyperVSavedStateError(component, "ring saved for a closed channel") }
        case .rescinded:
            guard saved.ring == nil else { throw HyperVSavedStateError(component, "ring saved for a rescinded channel") }
            record.rescinded = true
        case .open:
            guard let ring = saved.ring, record.offeredToGuest else {
                throw HyperVSavedStateError(component, "open without a ring or an offer")
            }
            record.runtime = .open(try restoredChannel(record, ring, state: state, component: component))
            record.ringGPADL = ring.gpadl
        }
        state.channels[saved.relID] = record
    }

    private func restoredChannel(
        _ record: ChannelRecord, _ saved: VMBusHostSavedState.RingState, state: HostState, component: String
    ) throws(HyperVSavedStateError) -> ActiveChannel {
        let channel: ActiveChannel
        do throws(ChannelSetupError) {
            channel = try makeChannel(
                record, ringGPADL: saved.gpadl, split: saved.downstreamPageOffset, targetVP: saved.targetVP, state: state,
                indices: (saved.readIndex, saved.writeIndex))
        } catch {
            throw HyperVSavedStateError(component, error.reason)
        }
        channel.endpoint.state.withLock { $0.waitingForSpace = saved.waitingForSpace }
        if saved.faulted { channel.endpoint.close() }
        return channel
    }
}
