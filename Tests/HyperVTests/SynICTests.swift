import GuestMemory
import Testing

@testable import HyperV

@Suite struct SynICTests {
    typealias M = SyntheticMSR

    @Test func deliveredMessageSlotGoldenBytes() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 1)
        let payload: [UInt8] = [0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xAA, 0xBB, 0xCC]
        f.synic.postMessage(vp: 1, sint: 2, messageType: 1, payload: payload)
        #expect(f.kicks.value == [1])
        #expect(try f.slot(vp: 1, sint: 2).allSatisfy { $0 == 0 }, "nothing is written before the VP's thread delivers")
        f.synic.deliverPending(vp: 1)
        let slot = try f.slot(vp: 1, sint: 2)
        let header: [UInt8] = [
            0x01, 0x00, 0x00, 0x00,  // message_type = 1 (VMBus)
            0x0B,  // payload_size = 11
            0x00,  // message_flags: no msg_pending
            0x00, 0x00,  // reserved
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // sender / port id = 0
        ]
        #expect(Array(slot[0..<16]) == header)
        #expect(Array(slot[16..<27]) == payload)
        #expect(slot[27...].allSatisfy { $0 == 0 }, "the rest of the payload area is zeroed")
        #expect(f.sink.all == [.init(vp: 1, vector: 0xF3)])
        // Other slots and the other VP's page are untouched.
        #expect(try f.slot(vp: 1, sint: 1).allSatisfy { $0 == 0 })
        #expect(try f.slot(vp: 1, sint: 3).allSatisfy { $0 == 0 })
        #expect(f.synic.queuedMessageCount(vp: 1) == 0)
    }

    @Test func busySlotSetsPendingAndEOMDeliversTheNext() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [1])
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [2])
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [3])
        #expect(f.kicks.value == [0], "only the first message kicks: the rest wait behind it")
        f.synic.deliverPending(vp: 0)
        var slot = try f.slot(vp: 0, sint: 2)
        #expect(slot[16] == 1 && slot[5] == 1, "first message, msg_pending since more are queued")
        f.synic.deliverPending(vp: 0)
        #expect(try f.slot(vp: 0, sint: 2)[16] == 1, "a busy slot is never overwritten")
        #expect(f.sink.count == 1)
        // The guest frees the slot and, seeing msg_pending, writes EOM: the next one lands at once.
        #expect(try f.guestConsume(vp: 0, sint: 2)?[16] == 1)
        slot = try f.slot(vp: 0, sint: 2)
        #expect(slot[16] == 2 && slot[5] == 1)
        #expect(try f.guestConsume(vp: 0, sint: 2)?[16] == 2)
        slot = try f.slot(vp: 0, sint: 2)
        #expect(slot[16] == 3 && slot[5] == 0, "last message: no msg_pending")
        #expect(try f.guestConsume(vp: 0, sint: 2)?[16] == 3)
        #expect(try f.slot(vp: 0, sint: 2)[0] == 0)
        #expect(f.sink.count == 3)
        #expect(f.synic.queuedMessageCount(vp: 0) == 0)
    }

    @Test func messageArrivingWhileTheSlotIsBusySetsPendingInTheOccupiedSlot() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [1])
        f.synic.deliverPending(vp: 0)
        #expect(try f.slot(vp: 0, sint: 2)[5] == 0)
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [2])
        #expect(f.kicks.value == [0, 0])
        f.synic.deliverPending(vp: 0)
        let slot = try f.slot(vp: 0, sint: 2)
        #expect(slot[16] == 1 && slot[5] == 1, "the guest will EOM after freeing it")
        try f.guestConsume(vp: 0, sint: 2)
        #expect(try f.slot(vp: 0, sint: 2)[16] == 2)
    }

    @Test func slotFreedWithoutEOMIsRetriedAtTheNextDeliveryOpportunity() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [1])
        f.synic.deliverPending(vp: 0)
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [2])
        // The guest frees the slot (no EOM: msg_pending was clear when it looked).
        let address = GuestPhysicalAddress(Fixture.simp(0) + 2 * 256)
        #expect(try f.memory.compareExchange32(expected: 1, desired: 0, at: address) == 1)
        f.synic.deliverPending(vp: 0)
        #expect(try f.slot(vp: 0, sint: 2)[16] == 2)
    }

    @Test func disabledSIMPOrSCONTROLKeepsMessagesQueued() throws {
        let f = try Fixture()
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [7])
        f.synic.deliverPending(vp: 0)
        #expect(f.synic.queuedMessageCount(vp: 0) == 1)
        #expect(f.sink.count == 0)
        #expect(f.partition.writeMSR(M.scontrol.rawValue, value: 0, vp: 0))
        f.enableSynIC(vp: 0)  // SIMP, SIEFP, SINT2 written while SCONTROL is 0, then SCONTROL = 1
        #expect(try f.slot(vp: 0, sint: 2)[16] == 7, "enabling delivers inline, on the VP's MSR exit")
        #expect(f.synic.queuedMessageCount(vp: 0) == 0)
        #expect(f.sink.all == [.init(vp: 0, vector: 0xF3)])
    }

    @Test func maskedSINTKeepsMessagesQueuedUntilUnmasked() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        #expect(f.partition.writeMSR(M.sint0.rawValue + 5, value: 0x1_0055, vp: 0))
        f.synic.postMessage(vp: 0, sint: 5, messageType: 1, payload: [9])
        f.synic.deliverPending(vp: 0)
        #expect(try f.slot(vp: 0, sint: 5)[0] == 0)
        #expect(f.sink.count == 0)
        #expect(f.partition.writeMSR(M.sint0.rawValue + 5, value: 0x55, vp: 0))
        #expect(try f.slot(vp: 0, sint: 5)[16] == 9)
        #expect(f.sink.all == [.init(vp: 0, vector: 0x55)])
    }

    @Test func pollingSINTGetsTheMessageButNoInterrupt() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        #expect(f.partition.writeMSR(M.sint0.rawValue + 4, value: 1 << 18 | 0x40, vp: 0))
        f.synic.postMessage(vp: 0, sint: 4, messageType: 1, payload: [4])
        f.synic.deliverPending(vp: 0)
        #expect(try f.slot(vp: 0, sint: 4)[16] == 4)
        #expect(f.sink.count == 0)
    }

    @Test func invalidHostPostsAreDropped() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        f.synic.postMessage(vp: 2, sint: 2, messageType: 1, payload: [])
        f.synic.postMessage(vp: UInt32.max, sint: 2, messageType: 1, payload: [])
        f.synic.postMessage(vp: 0, sint: 16, messageType: 1, payload: [])
        f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [UInt8](repeating: 0, count: 241))
        f.synic.postMessage(vp: 0, sint: 2, messageType: 0, payload: [1])
        #expect(f.kicks.value.isEmpty)
        #expect(f.synic.queuedMessageCount(vp: 0) == 0)
        f.synic.deliverPending(vp: 0)
        f.synic.deliverPending(vp: 5)
        #expect(try f.slot(vp: 0, sint: 2)[0] == 0)
    }

    @Test func queuesAreBounded() throws {
        let f = try Fixture(maxQueued: 4)
        for i in 0..<10 { f.synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [UInt8(i)]) }
        #expect(f.synic.queuedMessageCount(vp: 0) == 4)
        f.enableSynIC(vp: 0)
        var seen: [UInt8] = []
        while let m = try f.guestConsume(vp: 0, sint: 2) { seen.append(m[16]) }
        #expect(seen == [0, 1, 2, 3])
    }

    // MARK: Event flags

    @Test func eventFlagsAreSetAtomicallyAndInterruptOnlyWhenNewlySet() throws {
        let f = try Fixture()
        f.enableSynIC(vp: 1)
        f.synic.signalEvent(vp: 1, sint: 2, flag: 5)
        let word = GuestPhysicalAddress(Fixture.siefp(1) + 2 * 256)
        #expect(try f.memory.load(UInt64.self, at: word) == 1 << 5)
        #expect(f.sink.all == [.init(vp: 1, vector: 0xF3)])
        f.synic.signalEvent(vp: 1, sint: 2, flag: 5)
        #expect(f.sink.count == 1, "already set: the guest has not scanned yet, no second interrupt")
        f.synic.signalEvent(vp: 1, sint: 2, flag: 2047)
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.siefp(1) + 3 * 256 - 1), count: 1) == [0x80])
        #expect(f.sink.count == 2)
        // The guest clears flag 5 (sync_test_and_clear_bit); a new signal interrupts again.
        try f.memory.atomicFetchAnd64(~(1 << 5), at: word)
        f.synic.signalEvent(vp: 1, sint: 2, flag: 5)
        #expect(f.sink.count == 3)
        // Out of range flags and SINTs are dropped.
        f.synic.signalEvent(vp: 1, sint: 2, flag: 2048)
        f.synic.signalEvent(vp: 1, sint: 16, flag: 0)
        f.synic.signalEvent(vp: 9, sint: 2, flag: 0)
        #expect(f.sink.count == 3)
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.siefp(1) + 3 * 256), count: 256).allSatisfy { $0 == 0 })
    }

    @Test func eventsWithoutSIEFPAreDroppedAndMaskedSINTsInterruptOnUnmask() throws {
        let f = try Fixture()
        f.synic.signalEvent(vp: 0, sint: 2, flag: 1)  // no SIEFP yet
        #expect(f.sink.count == 0)
        _ = f.partition.writeMSR(M.siefp.rawValue, value: Fixture.siefp(0) | 1, vp: 0)
        f.synic.signalEvent(vp: 0, sint: 2, flag: 1)  // SINT2 still masked (reset value)
        #expect(try f.memory.load(UInt64.self, at: GuestPhysicalAddress(Fixture.siefp(0) + 512)) == 2)
        #expect(f.sink.count == 0)
        _ = f.partition.writeMSR(M.sint0.rawValue + 2, value: 0xF3, vp: 0)
        #expect(f.sink.all == [.init(vp: 0, vector: 0xF3)], "unmasking with a flag set raises the vector")
        // SCONTROL off suppresses, SCONTROL on re-raises.
        _ = f.partition.writeMSR(M.scontrol.rawValue, value: 0, vp: 0)
        f.synic.signalEvent(vp: 0, sint: 2, flag: 9)
        #expect(f.sink.count == 1)
        _ = f.partition.writeMSR(M.scontrol.rawValue, value: 1, vp: 0)
        #expect(f.sink.count == 2)
    }

    @Test func eventStormRaisesExactlyOneInterruptPerNewlySetFlag() async throws {
        let f = try Fixture()
        f.enableSynIC(vp: 0)
        let synic = f.synic
        // 8 threads signal every flag of SINT2 and SINT3, each in its own order.
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<4096 {
                        let n = (i &* 2654435761 &+ t &* 97) % 4096
                        synic.signalEvent(vp: 0, sint: UInt8(2 + n / 2048), flag: UInt32(n % 2048))
                    }
                }
            }
        }
        let flags = try f.memory.read(at: GuestPhysicalAddress(Fixture.siefp(0) + 512), count: 512)
        #expect(flags.allSatisfy { $0 == 0xFF })
        // SINT3 is masked (reset value), so only SINT2's 2048 flags interrupt, once each.
        #expect(f.sink.count == 2048)
        #expect(Set(f.sink.all) == [.init(vp: 0, vector: 0xF3)])
    }
}

@Suite struct SynICRaceTests {
    /// The lost wake-up of risk R7, forced: the guest (another vCPU) frees the slot after we saw
    /// it busy but before we mark it pending, so it reads msg_pending = 0 and sends no EOM. The
    /// atomic OR reveals the freed slot and the message is written at once.
    @Test func slotFreedBetweenBusyCheckAndPendingMarkIsUsedAtOnce() throws {
        let memory = GuestMemory.heapBacked(size: Fixture.ramSize)
        let sink = RecordingSink()
        let eomWrites = Locked(0)
        let synic = SynIC(
            vpCount: 1, memory: memory, interruptSink: sink, maxQueuedMessagesPerSINT: 16, logger: .init(label: "test"),
            afterBusyCheck: { slot in
                // The guest: cmpxchg type → NONE, then EOM only if msg_pending.
                let type = (try? memory.atomicLoad32(at: slot)) ?? 0
                _ = try? memory.compareExchange32(expected: type, desired: 0, at: slot)
                if let flags = try? memory.read(at: GuestPhysicalAddress(slot.rawValue + 5), count: 1), flags[0] & 1 != 0 {
                    eomWrites.withLock { $0 += 1 }
                }
            }, kick: { _ in })
        let simp = GuestPhysicalAddress(Fixture.simp(0))
        #expect(synic.writeRegister(.simp, value: simp.rawValue | 1, vp: 0) == .accepted)
        #expect(synic.writeRegister(SyntheticMSR(rawValue: SyntheticMSR.sint0.rawValue + 2), value: 0xF3, vp: 0) == .accepted)
        synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [1])
        synic.deliverPending(vp: 0)
        synic.postMessage(vp: 0, sint: 2, messageType: 1, payload: [2])
        synic.deliverPending(vp: 0)  // sees slot busy; the guest frees it in the window
        let slot = try memory.read(at: GuestPhysicalAddress(simp.rawValue + 512), count: 17)
        #expect(slot[0] == 1 && slot[16] == 2, "the second message was written without waiting for an EOM")
        #expect(eomWrites.value == 0)
        #expect(synic.queuedMessageCount(vp: 0) == 0)
        #expect(sink.count == 2)
    }
}
