import GuestMemory
import Testing

@testable import HyperV

@Suite struct HypercallTests {
    /// Writes an `hv_input_post_message` at `gpa`.
    func writePostMessage(
        _ f: Fixture, at gpa: UInt64, connection: UInt32 = 4, type: UInt32 = 1, size: UInt32, payload: [UInt8] = []
    ) throws {
        var input = [UInt8](repeating: 0, count: 256)
        for (offset, value) in [(0, connection), (8, type), (12, size)] {
            for i in 0..<4 { input[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) }
        }
        input.replaceSubrange(16..<16 + payload.count, with: payload)
        try f.memory.write(input, at: GuestPhysicalAddress(gpa))
    }

    @Test func controlWordDecoding() {
        let c = HypercallControl(rawValue: 0x0ABC_0003_0003_005C | 1 << 16)
        #expect(c.code == .postMessage)
        #expect(c.isFast)
        #expect(c.variableHeaderSize == 8)
        #expect(c.repCount == 3)
        #expect(c.repStart == 0xABC)
        #expect(!c.hasReservedBits)
        #expect(HypercallControl(code: .signalEvent, fast: true).rawValue == 0x1_005D)
        #expect(HypercallControl(code: .postMessage, repCount: 3, repStart: 1).rawValue == 0x0001_0003_0000_005C)
        for bit in [27, 28, 29, 30, 31, 44, 45, 46, 47, 60, 61, 62, 63] {
            #expect(HypercallControl(rawValue: 0x5C | 1 << UInt64(bit)).hasReservedBits, "bit \(bit)")
        }
        #expect(HypercallResult(status: .invalidParameter, repsCompleted: 7).rawValue == 0x0000_0007_0000_0005)
        #expect(HypercallResult(status: .success, repsCompleted: 0xFFF).rawValue == 0x0000_0FFF_0000_0000)
    }

    @Test func trapRecognition() {
        #expect(HypercallPage.isTrap(port: 0xEB, isWrite: true, size: 1, rip: 0xFFFF_C900_0000_1004))
        #expect(!HypercallPage.isTrap(port: 0xEB, isWrite: false, size: 1, rip: 0x1004))
        #expect(!HypercallPage.isTrap(port: 0xEB, isWrite: true, size: 2, rip: 0x1004))
        #expect(!HypercallPage.isTrap(port: 0xEB, isWrite: true, size: 1, rip: 0x1005))
        // KVM-PVM reports RIP already past the 2-byte OUT.
        #expect(HypercallPage.isTrap(port: 0xEB, isWrite: true, size: 1, rip: 0x1006))
        #expect(!HypercallPage.isTrap(port: 0xEB, isWrite: true, size: 1, rip: 0x1007))
        #expect(!HypercallPage.isTrap(port: 0x80, isWrite: true, size: 1, rip: 0x1004))
        // The page code puts the OUT where the constants say.
        #expect(HypercallPage.code[Int(HypercallPage.trapInstructionOffset)] == 0xE6)
        #expect(HypercallPage.code[Int(HypercallPage.trapInstructionOffset) + 1] == HypercallPage.trapPort)
    }

    @Test func postMessageIsForwarded() throws {
        let f = try Fixture()
        f.enableHypercalls()
        let payload = (0..<24).map { UInt8($0) }
        try writePostMessage(f, at: Fixture.inputPage, connection: 4, type: 1, size: 24, payload: payload)
        let r = f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage, vp: 1)
        #expect(r.rawValue == 0)
        #expect(f.handler.posts.withLock { $0 } == [.init(connectionID: 4, messageType: 1, payload: payload, vp: 1)])
        // The handler's status reaches RAX (INSUFFICIENT_BUFFERS: Linux retries).
        f.handler.status.withLock { $0 = .insufficientBuffers }
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).rawValue == 0x13)
        f.handler.status.withLock { $0 = .invalidConnectionID }
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).rawValue == 0x12)
    }

    @Test func postMessageAcceptsTheLargestPayloadAndRefuses241() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try writePostMessage(f, at: Fixture.inputPage, size: 240, payload: [UInt8](repeating: 0xAB, count: 240))
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .success)
        #expect(f.handler.posts.withLock { $0.last?.payload.count } == 240)
        try writePostMessage(f, at: Fixture.inputPage, size: 241)
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .invalidParameter)
        try writePostMessage(f, at: Fixture.inputPage, size: 0xFFFF_FFFF)
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .invalidParameter)
        #expect(f.handler.posts.withLock { $0.count } == 1)
    }

    @Test func postMessageRefusesBadTypesAndConnectionIDs() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try writePostMessage(f, at: Fixture.inputPage, type: 0, size: 8)
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .invalidParameter)
        try writePostMessage(f, at: Fixture.inputPage, type: 0x8000_0010, size: 8)
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .invalidParameter)
        try writePostMessage(f, at: Fixture.inputPage, connection: 0x0100_0004, size: 8)
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage).status == .invalidHypercallInput)
        #expect(f.handler.posts.withLock { $0.isEmpty })
    }

    @Test func postMessageInputMustBeAlignedInOnePageAndInRAM() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try writePostMessage(f, at: Fixture.inputPage + 0xF00, size: 8)
        // 0xF00 + 256 ends exactly at the page end: fine.
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage + 0xF00).status == .success)
        for misaligned: UInt64 in [1, 4, 7] {
            #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage + misaligned).status == .invalidAlignment)
        }
        // Crosses into the next page.
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.inputPage + 0xF08).status == .invalidAlignment)
        // Outside RAM, or wrapping past 2^64.
        for gpa: UInt64 in [Fixture.ramSize, 0xC000_0000, 0xFFFF_FFFF_FFFF_F000, 0xFFFF_FFFF_FFFF_FFF8] {
            let status = f.call(HypercallControl(code: .postMessage), rdx: gpa).status
            #expect(status == .accessDenied || status == .invalidAlignment, "gpa 0x\(String(gpa, radix: 16))")
        }
        #expect(f.call(HypercallControl(code: .postMessage), rdx: Fixture.ramSize).status == .accessDenied)
        #expect(f.handler.posts.withLock { $0.count } == 1)
    }

    @Test func postMessageEncodingErrors() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try writePostMessage(f, at: Fixture.inputPage, size: 8)
        let base = HypercallControl(code: .postMessage)
        #expect(f.call(HypercallControl(code: .postMessage, fast: true), rdx: Fixture.inputPage).status == .invalidParameter)
        #expect(f.call(HypercallControl(code: .postMessage, repCount: 1), rdx: Fixture.inputPage).status == .invalidHypercallInput)
        #expect(f.call(HypercallControl(code: .postMessage, repStart: 1), rdx: Fixture.inputPage).status == .invalidHypercallInput)
        #expect(
            f.call(HypercallControl(code: .postMessage, variableHeaderQuadwords: 1), rdx: Fixture.inputPage).status
                == .invalidHypercallInput)
        #expect(f.call(HypercallControl(rawValue: base.rawValue | 1 << 31), rdx: Fixture.inputPage).status == .invalidHypercallInput)
        #expect(f.handler.posts.withLock { $0.isEmpty })
    }

    @Test func fastSignalEventIsForwarded() throws {
        let f = try Fixture()
        f.enableHypercalls()
        // Linux: RCX = 0x1005d, RDX = channel->sig_event (connection id, flag 0).
        let r = f.partition.handleHypercall(rcx: 0x1_005D, rdx: 0x0000_0000_0000_2A15, r8: 0, vp: 1)
        #expect(r == 0)
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 0x0000_0007_0000_0011).status == .success)
        #expect(
            f.handler.signals.withLock { $0 } == [
                .init(connectionID: 0x2A15, flagNumber: 0, vp: 1), .init(connectionID: 0x11, flagNumber: 7, vp: 0),
            ])
        // Reserved bits: connection id bits 31:24 and bits 63:48.
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 0x0100_0011).status == .invalidHypercallInput)
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 1 << 48 | 0x11).status == .invalidHypercallInput)
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true, repCount: 2), rdx: 0x11).status == .invalidHypercallInput)
        f.handler.status.withLock { $0 = .invalidPortID }
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 0x99).rawValue == 0x11)
        #expect(f.handler.signals.withLock { $0.count } == 3)
    }

    @Test func slowSignalEventReadsItsInputFromRAM() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try f.memory.store(UInt64(0x0000_0003_0000_0042), at: GuestPhysicalAddress(Fixture.inputPage))
        #expect(f.call(HypercallControl(code: .signalEvent), rdx: Fixture.inputPage).status == .success)
        #expect(f.handler.signals.withLock { $0 } == [.init(connectionID: 0x42, flagNumber: 3, vp: 0)])
        #expect(f.call(HypercallControl(code: .signalEvent), rdx: Fixture.inputPage + 2).status == .invalidAlignment)
        #expect(f.call(HypercallControl(code: .signalEvent), rdx: Fixture.ramSize).status == .accessDenied)
    }

    @Test(arguments: [0x0001, 0x0002, 0x0003, 0x0008, 0x000B, 0x0013, 0x0046, 0x0099, 0x8001, 0x8003, 0xFFFF] as [UInt16])
    func unknownCallCodesAreRefused(code: UInt16) throws {
        let f = try Fixture()
        f.enableHypercalls()
        for control in [
            HypercallControl(code: HypercallCode(rawValue: code)),
            HypercallControl(code: HypercallCode(rawValue: code), fast: true),
            HypercallControl(code: HypercallCode(rawValue: code), repCount: 17, repStart: 3),
        ] {
            let r = f.call(control, rdx: Fixture.inputPage, r8: Fixture.outputPage)
            #expect(r.rawValue == 0x2, "\(control)")  // INVALID_HYPERCALL_CODE, no reps
        }
        #expect(f.handler.posts.withLock { $0.isEmpty } && f.handler.signals.withLock { $0.isEmpty })
    }

    @Test func hypercallsNeedAnEnabledPageAndAKnownVP() throws {
        let f = try Fixture()
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 1).status == .accessDenied)
        f.enableHypercalls()
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 1, vp: 2).status == .invalidVPIndex)
        _ = f.partition.writeMSR(SyntheticMSR.hypercall.rawValue, value: Fixture.hypercallPage, vp: 0)
        #expect(f.call(HypercallControl(code: .signalEvent, fast: true), rdx: 1).status == .accessDenied)
        #expect(f.handler.signals.withLock { $0.isEmpty })
    }

    // MARK: Rep machinery (a test-only rep call: output[i] = header + input[i], fails on 0xBAD)

    static let testRepCode: UInt16 = 0x00F0
    static let testRep = RepHypercall(headerSize: 8, inputElementSize: 8, outputElementSize: 8) { header, element, _, _ in
        let h = littleEndian(header, 0, as: UInt64.self)
        let e = littleEndian(element, 0, as: UInt64.self)
        if e == 0xBAD { return .failed(.invalidParameter) }
        let sum = h &+ e
        return .completed((0..<8).map { UInt8(truncatingIfNeeded: sum >> (8 * UInt64($0))) })
    }

    func repFixture(elements: [UInt64], header: UInt64 = 1000) throws -> Fixture {
        let f = try Fixture(repHypercalls: [Self.testRepCode: Self.testRep])
        f.enableHypercalls()
        try f.memory.store(header, at: GuestPhysicalAddress(Fixture.inputPage))
        for (i, e) in elements.enumerated() {
            try f.memory.store(e, at: GuestPhysicalAddress(Fixture.inputPage + 8 + UInt64(i) * 8))
        }
        return f
    }

    func outputs(_ f: Fixture, count: Int) throws -> [UInt64] {
        try (0..<count).map { try f.memory.load(UInt64.self, at: GuestPhysicalAddress(Fixture.outputPage + UInt64($0) * 8)) }
    }

    @Test func repCallRunsEveryRepFromTheStartIndex() throws {
        let f = try repFixture(elements: [1, 2, 3, 4])
        let code = HypercallCode(rawValue: Self.testRepCode)
        let r = f.call(HypercallControl(code: code, repCount: 4), rdx: Fixture.inputPage, r8: Fixture.outputPage)
        #expect(r.rawValue == 0x0000_0004_0000_0000)  // success, 4 reps completed
        #expect(try outputs(f, count: 4) == [1001, 1002, 1003, 1004])
        // A restarted call (rep start 2) does only the rest.
        try f.memory.fill(at: GuestPhysicalAddress(Fixture.outputPage), count: 32)
        let r2 = f.call(HypercallControl(code: code, repCount: 4, repStart: 2), rdx: Fixture.inputPage, r8: Fixture.outputPage)
        #expect(r2 == HypercallResult(status: .success, repsCompleted: 4))
        #expect(try outputs(f, count: 4) == [0, 0, 1003, 1004])
    }

    @Test func repCallStopsAtTheFirstFailingRep() throws {
        let f = try repFixture(elements: [1, 2, 0xBAD, 4])
        let code = HypercallCode(rawValue: Self.testRepCode)
        let r = f.call(HypercallControl(code: code, repCount: 4), rdx: Fixture.inputPage, r8: Fixture.outputPage)
        #expect(r.rawValue == 0x0000_0002_0000_0005)  // INVALID_PARAMETER after 2 reps
        #expect(try outputs(f, count: 4) == [1001, 1002, 0, 0])
    }

    @Test func repCallEncodingAndBoundsErrors() throws {
        let f = try repFixture(elements: [1, 2])
        let code = HypercallCode(rawValue: Self.testRepCode)
        func status(_ c: HypercallControl, rdx: UInt64 = Fixture.inputPage, r8: UInt64 = Fixture.outputPage) -> HypercallResult {
            f.call(c, rdx: rdx, r8: r8)
        }
        #expect(status(HypercallControl(code: code)).status == .invalidHypercallInput)  // rep count 0
        #expect(status(HypercallControl(code: code, repCount: 2, repStart: 2)).status == .invalidHypercallInput)
        #expect(status(HypercallControl(code: code, fast: true, repCount: 2)).status == .invalidHypercallInput)
        // 8 + 4095 * 8 input bytes cannot fit in one page.
        #expect(status(HypercallControl(code: code, repCount: 4095)).status == .invalidAlignment)
        #expect(status(HypercallControl(code: code, repCount: 2), rdx: Fixture.inputPage + 4).status == .invalidAlignment)
        #expect(status(HypercallControl(code: code, repCount: 2), rdx: Fixture.ramSize).status == .accessDenied)
        #expect(status(HypercallControl(code: code, repCount: 2), r8: Fixture.outputPage + 0xFF8).status == .invalidAlignment)
        #expect(status(HypercallControl(code: code, repCount: 2), r8: Fixture.ramSize) == HypercallResult(status: .accessDenied))
        // A variable header shifts the rep list: header 16 bytes, element 0 at +16.
        let r = status(HypercallControl(code: code, variableHeaderQuadwords: 1, repCount: 1))
        #expect(r == HypercallResult(status: .success, repsCompleted: 1))
        #expect(try outputs(f, count: 1) == [1002])
    }
}
