/// The CMOS RTC's saved state: the 128 bytes of CMOS RAM (registers A-D and the time fields
/// included), the index latch, and the guest-minus-host clock offset, so guest wall time
/// keeps running from the host clock across a save (as a battery-backed RTC does).
public struct CMOSRTCState: Codable, Sendable, Hashable {
    public var index: UInt8
    public var nmiMasked: Bool
    public var ram: [UInt8]
    public var registerC: UInt8
    public var offsetSeconds: Int64
    public var lastEvaluatedSecond: Int64
}

/// ACPI PM1 event and control registers.
public struct ACPIPowerManagementState: Codable, Sendable, Hashable {
    public var status: UInt16
    public var enable: UInt16
    public var control: UInt16
}

/// The PCI host bridge's latched configuration address (0xCF8) and reset control (0xCF9).
public struct PCIHostBridgeState: Codable, Sendable, Hashable {
    public var address: UInt32
    public var resetControl: UInt8
}

/// Saved state of the PC platform devices (`PCPlatformDevices`).
public struct PlatformDeviceState: Codable, Sendable, Hashable {
    public var com1: Serial16550State
    public var keyboardController: I8042State
    public var rtc: CMOSRTCState
    public var powerManagement: ACPIPowerManagementState
    public var pci: PCIHostBridgeState
    public var postCode: UInt8
}

extension CMOSRTC {
    public func captureState() -> CMOSRTCState {
        state.withLock { s in
            CMOSRTCState(
                index: s.index, nmiMasked: s.nmiMasked, ram: s.ram, registerC: s.registerC, offsetSeconds: s.offset,
                lastEvaluatedSecond: s.lastEvaluatedSecond)
        }
    }

    /// - Throws: `ChipsetStateError` when the saved CMOS RAM is not 128 bytes.
    public func restoreState(_ saved: CMOSRTCState) throws(ChipsetStateError) {
        guard saved.ram.count == 128 else { throw ChipsetStateError("saved CMOS RAM has \(saved.ram.count) bytes, not 128") }
        state.withLock { s in
            s.index = saved.index & 0x7f
            s.nmiMasked = saved.nmiMasked
            s.ram = saved.ram
            s.registerC = saved.registerC
            s.offset = saved.offsetSeconds
            s.staged = nil
            s.lastEvaluatedSecond = saved.lastEvaluatedSecond
            updateInterrupt(&s)
        }
    }
}

extension ACPIPowerManagement {
    public func captureState() -> ACPIPowerManagementState {
        state.withLock { ACPIPowerManagementState(status: $0.status, enable: $0.enable, control: $0.control) }
    }

    public func restoreState(_ saved: ACPIPowerManagementState) {
        state.withLock { s in
            s.status = saved.status
            s.enable = saved.enable
            s.control = saved.control
            updateSCI(&s)
        }
    }
}

extension PCIHostBridge {
    public func captureState() -> PCIHostBridgeState {
        state.withLock { PCIHostBridgeState(address: $0.address, resetControl: $0.resetControl) }
    }

    public func restoreState(_ saved: PCIHostBridgeState) {
        state.withLock { s in
            s.address = saved.address
            s.resetControl = saved.resetControl
        }
    }
}

extension PCPlatformDevices {
    /// Captures every saved device. Call it with the vCPUs paused.
    public func captureState() -> PlatformDeviceState {
        PlatformDeviceState(
            com1: com1.captureState(), keyboardController: keyboardController.captureState(), rtc: rtc.captureState(), powerManagement: powerManagement.captureState(),
            pci: pci.captureState(), postCode: postCode.lastCode)
    }

    /// Restores every saved device (before the vCPUs run).
    public func restoreState(_ saved: PlatformDeviceState) throws(ChipsetStateError) {
        com1.restoreState(saved.com1)
        try keyboardController.restoreState(saved.keyboardController)
        try rtc.restoreState(saved.rtc)
        powerManagement.restoreState(saved.powerManagement)
        pci.restoreState(saved.pci)
        postCode.ioWrite(offset: 0, width: .byte, value: UInt64(saved.postCode))
    }
}

/// A saved device state that cannot be applied.
public struct ChipsetStateError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
