import Foundation
import GuestMemory
import Testing
import VMBusTestSupport

@testable import HyperV

@Suite struct HyperVSavedStateTests {
    /// A live partition: hypercalls and SynIC on both VPs, a crash parameter, and a message
    /// queued behind a busy slot; then save, copy RAM, restore into fresh objects.
    @Test func partitionAndSynICContinueAfterRestore() throws {
        let old = try Fixture()
        old.enableHypercalls()
        old.enableSynIC(vp: 0)
        old.enableSynIC(vp: 1)
        #expect(old.partition.writeMSR(SyntheticMSR.crashP0.rawValue, value: 0xDEAD, vp: 0))
        #expect(old.partition.writeMSR(SyntheticMSR.vpAssistPage.rawValue, value: 0x3_0001, vp: 1))
        // Two messages on VP 1 SINT 2: the first fills the slot, the second waits in the host queue.
        old.synic.postMessage(vp: 1, sint: 2, messageType: 1, payload: [1, 2, 3])
        old.synic.postMessage(vp: 1, sint: 2, messageType: 1, payload: [4, 5, 6])
        old.synic.deliverPending(vp: 1)
        #expect(try old.slot(vp: 1, sint: 2)[16..<19] == [1, 2, 3])
        #expect(old.synic.queuedMessageCount(vp: 1) == 1)
        usleep(2000)
        let partitionState = try roundTrip(old.partition.captureState())
        let synicState = try roundTrip(old.synic.captureState())
        #expect(partitionState.referenceTime > 0)

        let new = try Fixture(memory: try copyOfRAM(old.memory))
        try new.partition.restore(partitionState)
        try new.synic.restore(synicState)
        // Registers are back, and RAM was not zeroed (the slot still holds the first message).
        #expect(new.partition.readMSR(SyntheticMSR.guestOSID.rawValue, vp: 0) == Fixture.linuxGuestOSID)
        #expect(new.partition.isHypercallPageEnabled)
        #expect(new.partition.readMSR(SyntheticMSR.crashP0.rawValue, vp: 0) == 0xDEAD)
        #expect(new.partition.readMSR(SyntheticMSR.vpAssistPage.rawValue, vp: 1) == 0x3_0001)
        #expect(new.partition.readMSR(SyntheticMSR.simp.rawValue, vp: 1) == Fixture.simp(1) | 1)
        #expect(new.partition.readMSR(SyntheticMSR.sint0.rawValue + 2, vp: 1) == 0xF3)
        #expect(try new.slot(vp: 1, sint: 2)[16..<19] == [1, 2, 3])
        // The reference time continues from the saved value instead of restarting at 0.
        let time = try #require(new.partition.readMSR(SyntheticMSR.timeRefCount.rawValue, vp: 0))
        #expect(time >= partitionState.referenceTime)
        // The guest consumes the slot and EOMs: the queued message follows, with its interrupt.
        #expect(try new.guestConsume(vp: 1, sint: 2)?[16..<19] == [1, 2, 3])
        #expect(try new.slot(vp: 1, sint: 2)[16..<19] == [4, 5, 6])
        #expect(new.sink.all.contains(RecordingSink.Interrupt(vp: 1, vector: 0xF3)))
        // New messages still reach VP 0 after restore.
        new.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [9])
        new.synic.deliverPending(vp: 0)
        #expect(try new.slot(vp: 0, sint: 2)[16] == 9)
        // Event flags too.
        new.synic.signalEvent(vp: 0, sint: 2, flag: 5)
        #expect(try new.memory.load(UInt64.self, at: GuestPhysicalAddress(Fixture.siefp(0) + 2 * 256)) == 1 << 5)
    }

    @Test func corruptSynICStateIsRefused() throws {
        let old = try Fixture()
        old.enableSynIC(vp: 0)
        let good = old.synic.captureState()
        let new = try Fixture()

        var outside = good
        outside.vps[0].simp = 0x4000_0000 | 1
        #expect(throws: HyperVSavedStateError.self) { try new.synic.restore(outside) }

        var lowVector = good
        lowVector.vps[0].sints[3] = 5
        #expect(throws: HyperVSavedStateError.self) { try new.synic.restore(lowVector) }

        var bigMessage = good
        bigMessage.vps[0].queuedMessages[2] = [.init(messageType: 1, payload: [UInt8](repeating: 0, count: 241))]
        #expect(throws: HyperVSavedStateError.self) { try new.synic.restore(bigMessage) }

        var fewerVPs = good
        fewerVPs.vps.removeLast()
        #expect(throws: HyperVSavedStateError.self) { try new.synic.restore(fewerVPs) }

        var shortSINTs = good
        shortSINTs.vps[1].sints = [0]
        #expect(throws: HyperVSavedStateError.self) { try new.synic.restore(shortSINTs) }
        // Nothing was applied by the refused restores.
        #expect(new.partition.readMSR(SyntheticMSR.simp.rawValue, vp: 0) == 0)
    }

    @Test func corruptPartitionStateIsRefused() throws {
        let old = try Fixture()
        old.enableHypercalls()
        var saved = old.partition.captureState()
        let new = try Fixture()
        saved.hypercall = 0x7000_0000 | 1
        #expect(throws: HyperVSavedStateError.self) { try new.partition.restore(saved) }
        saved = old.partition.captureState()
        saved.vpAssistPages = [0, 0, 0]
        #expect(throws: HyperVSavedStateError.self) { try new.partition.restore(saved) }
        saved = old.partition.captureState()
        saved.crashParameters = []
        #expect(throws: HyperVSavedStateError.self) { try new.partition.restore(saved) }
        #expect(!new.partition.isHypercallPageEnabled)
    }
}
