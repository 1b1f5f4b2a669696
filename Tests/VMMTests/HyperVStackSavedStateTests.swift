import Configuration
import Foundation
import GuestMemory
import HyperV
import KVM
import Logging
import Testing
import VMBus

@testable import VMM

/// The stack's blob: what the machine side stores. The components' live-guest behaviour across a
/// restore is tested in HyperVTests, VMBusTests and SyntheticDevicesTests; here the aggregate
/// (quiesce, encode, version, device-set check) with a KVM machine for the stack's kicks.
@Suite(.enabled(if: TinyGuest.usable, "needs /dev/kvm and binutils"), .serialized)
struct HyperVStackSavedStateTests {
    func makeStack(_ machine: Machine, memory: GuestMemory, services: Configuration.IntegrationServices = .init())
        throws -> HyperVStack
    {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        return try HyperVStack(
            configuration: HyperVStack.configuration(vpCount: 1, tscFrequencyHz: 2_000_000_000), services: services,
            memory: memory, machine: machine, disks: AttachedDisks(disks: [:], locks: [:]), storageInstanceID: .zero,
            onGuestCrash: { _ in }, logger: logger)
    }

    func copyOfRAM(_ memory: GuestMemory) throws -> GuestMemory {
        let copy = GuestMemory.heapBacked(size: memory.totalSize)
        try copy.write(memory.read(at: GuestPhysicalAddress(0), count: Int(memory.totalSize)), at: GuestPhysicalAddress(0))
        return copy
    }

    /// The blob with one JSON value replaced (what a corrupted or foreign file carries).
    func edited(_ blob: Data, _ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: blob) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test func stackStateRoundTripsAndBadBlobsAreRefused() throws {
        let machine = try TinyGuest.machine("ports")
        let memory = GuestMemory.heapBacked(size: 4 << 20)
        let old = try makeStack(machine, memory: memory)
        let p = old.partition
        #expect(p.writeMSR(SyntheticMSR.guestOSID.rawValue, value: 0x8100_0006_01C0_0000, vp: 0))
        #expect(p.writeMSR(SyntheticMSR.hypercall.rawValue, value: 0x1_0001, vp: 0))
        #expect(p.writeMSR(SyntheticMSR.simp.rawValue, value: 0x2_0001, vp: 0))
        #expect(p.writeMSR(SyntheticMSR.siefp.rawValue, value: 0x2_1001, vp: 0))
        #expect(p.writeMSR(SyntheticMSR.sint0.rawValue + 2, value: 0xF3, vp: 0))
        let blob = try old.saveState()
        old.resumeAfterSave()

        let new = try makeStack(machine, memory: try copyOfRAM(memory))
        try new.restoreState(blob)
        for msr in [SyntheticMSR.guestOSID, .hypercall, .simp, .siefp, SyntheticMSR(rawValue: SyntheticMSR.sint0.rawValue + 2)] {
            #expect(new.partition.readMSR(msr.rawValue, vp: 0) == p.readMSR(msr.rawValue, vp: 0))
        }
        #expect(new.partition.isHypercallPageEnabled)

        func refused(_ data: Data, services: Configuration.IntegrationServices = .init(), because: String) throws {
            let stack = try makeStack(machine, memory: try copyOfRAM(memory), services: services)
            let error = #expect(throws: HyperVSavedStateError.self) { try stack.restoreState(data) }
            #expect(error?.description.contains(because) == true, "\(error.map { "\($0)" } ?? "no error")")
        }
        try refused(Data("not a saved state".utf8), because: "not a readable saved state")
        try refused(blob.prefix(blob.count / 2), because: "not a readable saved state")
        try refused(try edited(blob) { $0["version"] = 99 }, because: "format version 99")
        try refused(blob, services: .init(heartbeat: false), because: "different synthetic devices")
        let badSIMP = try edited(blob) { object in
                guard var synic = object["synic"] as? [String: Any], var vps = synic["vps"] as? [[String: Any]] else { return }
                vps[0]["simp"] = 0x7000_0001  // outside the 4 MiB of RAM
                synic["vps"] = vps
                object["synic"] = synic
            }
        try refused(badSIMP, because: "SIMP page")
    }
}
