import Foundation
import GuestMemory
import HyperV
import Logging
import SyntheticDevices
import Testing
import VMBus
import VMBusTestSupport

@Suite struct NetworkAdapterSavedStateTests {
    static let mac = NetworkAdapterTests.mac
    static let instance = GUID(wireBytes: [UInt8](repeating: 7, count: 16))

    func frame(seed: UInt8, size: Int = 80) -> [UInt8] {
        Self.mac + [0x02, 0, 0, 0, 0, 1] + [0x08, 0x00] + (0..<(size - 14)).map { UInt8(truncatingIfNeeded: $0) &+ seed }
    }

    func makeAdapter(on h: NetHarness, backend: InMemoryPacketBackend, mac: [UInt8] = Self.mac) throws -> NetworkAdapter {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let host = h.host
        let adapter = NetworkAdapter(
            macAddress: mac, instanceID: Self.instance, backend: backend, gpadlLookup: { host.gpadl($0) }, logger: logger)
        try h.host.addDevice(adapter)
        return adapter
    }

    /// A guest with buffers up and a received frame it has not completed yet, saved.
    func savedGuest() throws -> (NetvscGuest, NetworkAdapter, InMemoryPacketBackend, VMBusHostSavedState, NetworkAdapterSavedState) {
        let h = NetHarness()
        let backend = InMemoryPacketBackend()
        let adapter = try makeAdapter(on: h, backend: backend)
        let guest = try NetvscGuest(h: h)
        #expect(guest.connect(receiveBufferPages: 8))
        #expect(guest.bringUp() == Self.mac)
        guest.autoComplete = false
        backend.inject(frame(seed: 1))
        guest.pump()
        #expect(guest.frames == [frame(seed: 1)])
        #expect(guest.uncompleted.count == 1)
        // Saving: host frames stop reaching the guest (dropped, counted), then capture.
        adapter.pauseDelivery()
        let dropsBefore = adapter.status.statistics.rxDrops
        backend.inject(frame(seed: 2))
        #expect(adapter.status.statistics.rxDrops == dropsBefore + 1)
        h.host.waitForIdle()
        return (guest, adapter, backend, try roundTrip(h.host.captureState()), try roundTrip(adapter.captureState()))
    }

    @Test func netvscContinuesWithoutRenegotiatingAfterRestore() throws {
        let (guest, _, _, hostState, adapterState) = try savedGuest()
        #expect(adapterState.receiveBuffer?.lentSections.count == 1)
        #expect(adapterState.rndisInitialized && adapterState.packetFilter != 0 && adapterState.nvspVersion == 0x60001)

        let h2 = NetHarness(memory: try copyOfRAM(guest.memory))
        let backend2 = InMemoryPacketBackend()
        let adapter2 = try makeAdapter(on: h2, backend: backend2)
        try h2.host.restore(hostState)
        try adapter2.restore(adapterState, channel: h2.host.restoredEndpoint(for: adapter2))
        h2.host.resumeRestoredChannels()
        let guest2 = NetvscGuest(restoring: guest, onto: h2)
        #expect(adapter2.status.linkUp)
        #expect(adapter2.status.nvspVersion == 0x60001)

        // The guest completes the section it held before the save: the host knows it.
        let held = try #require(guest2.uncompleted.first)
        guest2.completeReceive(held)
        guest2.pump()
        #expect(adapter2.status.statistics.protocolErrors == 0)
        // A frame injected after restore reaches the guest's receive buffer.
        guest2.autoComplete = true
        backend2.inject(frame(seed: 3, size: 200))
        guest2.pump()
        #expect(guest2.frames == [frame(seed: 3, size: 200)])
        // Every section is usable: more frames than sections, completed as they come.
        for i in 0..<(guest2.receiveSectionCount + 4) {
            backend2.inject(frame(seed: UInt8(10 + i)))
            guest2.pump()
        }
        #expect(guest2.frames.count == guest2.receiveSectionCount + 5)
        // A guest send after restore reaches the backend, from a send-buffer section.
        let out = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + Array(frame(seed: 9, size: 64).dropFirst(6))
        #expect(guest2.sendRNDIS(NetvscGuest.rndisPacket(out), channelType: 0, section: 1) == NVSP.success)
        #expect(backend2.takeTransmitted() == [out])
        // RNDIS control still answers (the request ids continue).
        #expect(guest2.rndisRequest(RNDIS.keepalive, [])?.u32(12) == 0)
        #expect(adapter2.status.statistics.protocolErrors == 0)
    }

    @Test func corruptNetvscStateIsRefused() throws {
        let (guest, _, _, hostState, adapterState) = try savedGuest()
        func fresh(mac: [UInt8] = Self.mac) throws -> (NetHarness, NetworkAdapter) {
            let h = NetHarness(memory: try copyOfRAM(guest.memory))
            let adapter = try makeAdapter(on: h, backend: InMemoryPacketBackend(), mac: mac)
            try h.host.restore(hostState)
            return (h, adapter)
        }
        let (h, adapter) = try fresh()
        let endpoint = h.host.restoredEndpoint(for: adapter)
        #expect(endpoint != nil)

        var badSection = adapterState
        badSection.receiveBuffer?.lentSections = [9999]
        #expect(throws: HyperVSavedStateError.self) { try adapter.restore(badSection, channel: endpoint) }

        var badGPADL = adapterState
        badGPADL.receiveBuffer?.gpadl = 0x1234
        #expect(throws: HyperVSavedStateError.self) { try adapter.restore(badGPADL, channel: endpoint) }

        var badSend = adapterState
        badSend.sendBufferGPADL = 0x4321
        #expect(throws: HyperVSavedStateError.self) { try adapter.restore(badSend, channel: endpoint) }

        var badVersion = adapterState
        badVersion.nvspVersion = 0x99
        #expect(throws: HyperVSavedStateError.self) { try adapter.restore(badVersion, channel: endpoint) }

        #expect(throws: HyperVSavedStateError.self) { try adapter.restore(adapterState, channel: nil) }

        let (h2, otherMAC) = try fresh(mac: [0x00, 0x15, 0x5D, 0, 0, 1])
        #expect(throws: HyperVSavedStateError.self) {
            try otherMAC.restore(adapterState, channel: h2.host.restoredEndpoint(for: otherMAC))
        }
        // The refused restores left the adapter as built: link down.
        #expect(!adapter.status.linkUp)
        try adapter.restore(adapterState, channel: endpoint)
        #expect(adapter.status.linkUp)
    }
}
