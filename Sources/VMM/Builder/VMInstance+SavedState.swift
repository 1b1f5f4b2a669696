import Chipset
import Dispatch
import Foundation

extension VMInstance {
    /// Save-VM: pauses the vCPUs, captures vCPUs, in-kernel devices, platform devices (and the
    /// Hyper-V stack) and writes `path` atomically. The vCPUs stay paused: the caller answers
    /// whoever asked, then calls `stopAsSaved(path)` (the guest must not run on after its state
    /// was saved). On failure the VM is resumed (if it was running) and keeps going.
    /// Call it from a thread that may block (not the vCPU threads).
    /// - Throws: `SavedStateError` saying what failed.
    @discardableResult
    public func save(to path: String) throws(SavedStateError) -> SavedStateStatistics {
        if devices.changedSinceStart {
            throw SavedStateError(
                "devices were added or removed while this VM ran; saving after a hot-plug is not supported yet: stop and start the VM (it starts with its current devices), then save it")
        }
        let wasPaused = machine.isPaused
        machine.pause()
        var hyperVQuiesced = false
        do throws(SavedStateError) {
            let started = DispatchTime.now()
            let machineState: MachineState
            do {
                machineState = try machine.captureState()
            } catch {
                throw SavedStateError("cannot capture the vCPU state: \(error)")
            }
            let hyperVState = try saveHyperVState()
            hyperVQuiesced = hyperVState != nil
            let saved = SavedVM(
                fingerprint: SavedStateFingerprint(configuration), machine: machineState,
                platform: platform.captureState(), hyperV: hyperVState)
            let statistics = try SavedStateFile.write(saved, memory: memory, to: path)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e6
            logger.info(
                "saved to \(path) in \(Int(ms)) ms: \(statistics.fileBytes) bytes apparent, \(statistics.ramBytesStored) bytes of RAM stored"
            )
            return statistics
        } catch {
            // Saving quiesced the synthetic devices (heartbeat timer, incoming frames): let them go on.
            if hyperVQuiesced { hyperV?.resumeAfterSave() }
            if !wasPaused { machine.resume() }
            throw error
        }
    }

    /// Ends the VM after a successful `save(to:)`: `run()` returns `StopReason.saved(path)`.
    public func stopAsSaved(_ path: String) {
        machine.stop(.saved(path: path))
    }

    // MARK: Hyper-V (the one integration point with the Hyper-V stack's saved state)

    /// The Hyper-V stack's saved state (partition, SynIC, VMBus, integration services, storage,
    /// network), or nil for a VM without Hyper-V. The vCPUs are paused when this runs; it
    /// quiesces the synthetic devices first, so pending completions land in guest RAM before
    /// RAM is written.
    func saveHyperVState() throws(SavedStateError) -> [UInt8]? {
        guard let hyperV else { return nil }
        do {
            return Array(try hyperV.saveState())
        } catch {
            hyperV.resumeAfterSave()
            throw SavedStateError("cannot save the Hyper-V state: \(error)")
        }
    }

    /// Applies the Hyper-V section of a saved state, before the first vCPU runs.
    /// INTEGRATION: once `HyperVStack.restoreState(_ data: Data) throws` is merged, call
    /// `try hyperV.restoreState(Data(bytes))` here.
    func restoreHyperVState(_ bytes: [UInt8]?) throws(SavedStateError) {
        switch (hyperV, bytes) {
        case (nil, nil): return
        case (nil, .some): throw SavedStateError("the saved state has a Hyper-V section but this VM runs without Hyper-V")
        case (.some, nil): throw SavedStateError("the saved state has no Hyper-V section but this VM runs with Hyper-V")
        case (.some(let hyperV), .some(let bytes)):
            do {
                try hyperV.restoreState(Data(bytes))
            } catch {
                throw SavedStateError("cannot restore the Hyper-V state: \(error)")
            }
        }
    }
}
