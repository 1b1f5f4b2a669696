import Chipset
import KVM
import Testing

@testable import VMM

@Suite struct ExitHandlerTests {
    @Test func portWriteGoesToBus() {
        let io = FakeCPUIO()
        #expect(handle(.ioOut(port: 0x3f8, size: 1, values: [0x41]), io: io) == .resume(.none))
        #expect(io.log == [.portWrite(0x3f8, .byte, 0x41)])
    }

    @Test func stringPortWriteIsOneAccessPerValue() {
        let io = FakeCPUIO()
        _ = handle(.ioOut(port: 0x1f0, size: 2, values: [1, 2]), io: io)
        #expect(io.log == [.portWrite(0x1f0, .word, 1), .portWrite(0x1f0, .word, 2)])
    }

    @Test(arguments: [AccessWidth.byte, .word, .dword])
    func portReadReturnsTruncatedValue(width: AccessWidth) {
        let io = FakeCPUIO()
        io.portValues[0x71] = 0xAABB_CCDD_EEFF
        #expect(
            handle(.ioIn(port: 0x71, size: width.rawValue, count: 1), io: io)
                == .resume(.ioIn([width.truncate(0xAABB_CCDD_EEFF)])))
    }

    @Test func badWidthStopsWithRIP() {
        let io = FakeCPUIO()
        io.regs?.rip = 0xffff_ffff_8100_0000
        guard case .stop(.error(let message)) = handle(.ioOut(port: 0x80, size: 3, values: [0]), io: io) else {
            Issue.record("expected a stop")
            return
        }
        #expect(message.contains("0xffffffff81000000"))
        #expect(message.contains("vCPU 0"))
    }

    @Test func mmio() {
        let io = FakeCPUIO()
        io.mmioValues[0xd000_0000] = 0x1_2345_6789
        #expect(handle(.mmioRead(address: 0xd000_0000, size: 4), io: io) == .resume(.mmioRead(0x2345_6789)))
        #expect(handle(.mmioWrite(address: 0xd000_0008, size: 2, value: 0x1_ffff), io: io) == .resume(.none))
        #expect(io.log.last == .mmioWrite(0xd000_0008, .word, 0xffff))
    }

    @Test func msrReadAndWriteWithGP() {
        let io = FakeCPUIO()
        io.msrValues[0x4000_0001] = 0x1234
        io.acceptedMSRWrites = [0x4000_0000]
        #expect(handle(.rdmsr(index: 0x4000_0001, reason: .filter), io: io) == .resume(.msrRead(0x1234)))
        #expect(handle(.rdmsr(index: 0x4000_0099, reason: .filter), io: io) == .resume(.msrRead(nil)))
        #expect(
            handle(.wrmsr(index: 0x4000_0000, value: 5, reason: .filter), io: io) == .resume(.msrWrite(accepted: true)))
        #expect(
            handle(.wrmsr(index: 0x4000_0002, value: 5, reason: .filter), io: io) == .resume(.msrWrite(accepted: false))
        )
    }

    @Test func registerHookSeesAndSetsRegisters() {
        let io = FakeCPUIO()
        let hook = AddingHook()
        io.hooks[IOPort(0x5a)] = hook
        io.regs?.rcx = 1
        io.regs?.rdx = 2
        io.regs?.r8 = 3
        var expected = io.regs ?? GeneralRegisters()
        expected.rax = 6
        #expect(handle(.ioOut(port: 0x5a, size: 1, values: [0x9]), io: io) == .resumeWithRegisters(expected, .none))
        #expect(hook.seen.withLock { $0 } == [9])
        #expect(io.log.isEmpty)  // the bus was not involved

        var afterRead = io.regs ?? GeneralRegisters()
        afterRead.rbx = 0x77
        #expect(
            handle(.ioIn(port: 0x5a, size: 2, count: 1), io: io) == .resumeWithRegisters(afterRead, .ioIn([0x1234])))
    }

    @Test func hookWithoutRegistersStops() {
        let io = FakeCPUIO()
        io.hooks[IOPort(0x5a)] = AddingHook()
        io.regs = nil
        guard case .stop(.error) = handle(.ioOut(port: 0x5a, size: 1, values: [0]), io: io) else {
            Issue.record("expected a stop")
            return
        }
    }

    @Test func lifecycleExits() {
        let io = FakeCPUIO()
        #expect(handle(.shutdown, io: io) == .stop(.reset))
        #expect(handle(.interrupted, io: io) == .interrupted)
        #expect(handle(.hlt, io: io) == .halted)
        #expect(handle(.systemEvent(SystemEvent(kind: .shutdown, data: [])), io: io) == .stop(.powerOff))
        #expect(handle(.systemEvent(SystemEvent(kind: .reset, data: [])), io: io) == .stop(.reset))
        if case .stop(.error(let m)) = handle(.systemEvent(SystemEvent(kind: .crash, data: [])), io: io) {
            #expect(m.contains("system event 3"))
        } else {
            Issue.record("crash should stop with an error")
        }
        if case .stop(.error(let m)) = handle(.failEntry(reason: 0x80000021, cpu: 3), io: io) {
            #expect(m.contains("0x80000021"))
        } else {
            Issue.record("failEntry should stop with an error")
        }
        if case .stop(.error(let m)) = handle(.unknown(reason: 99, detail: "x"), io: io) {
            #expect(m.contains("99"))
        } else {
            Issue.record("unknown should stop with an error")
        }
    }

    @Test func emulationFailureInt3AdvancesAndInjectsBP() {
        let io = FakeCPUIO()
        io.regs?.rip = 0x1000
        let exit = VMExit.internalError(InternalError(suberror: 1, data: [1, 0, 0], instructionBytes: [0xcc]))
        var expected = io.regs ?? GeneralRegisters()
        expected.rip = 0x1001
        #expect(handle(exit, io: io) == .emulated(expected, exception: 3))
    }

    @Test func emulationFailureClacStac() {
        let io = FakeCPUIO()
        io.regs?.rip = 0x2000
        io.regs?.rflags = 0x2 | EmulationFallback.rflagsAC
        var expected = io.regs ?? GeneralRegisters()
        expected.rip = 0x2003
        expected.rflags = 0x2
        let clac = VMExit.internalError(InternalError(suberror: 1, data: [], instructionBytes: [0x0f, 0x01, 0xca]))
        #expect(handle(clac, io: io) == .emulated(expected, exception: nil))
        io.regs?.rflags = 0x2
        expected.rflags = 0x2 | EmulationFallback.rflagsAC
        let stac = VMExit.internalError(InternalError(suberror: 1, data: [], instructionBytes: [0x0f, 0x01, 0xcb]))
        #expect(handle(stac, io: io) == .emulated(expected, exception: nil))
    }

    @Test func emulationFailureUnknownNamesBytesAndMnemonic() {
        let io = FakeCPUIO()
        io.regs?.rip = 0xffff_ffff_8123_4567
        let exit = VMExit.internalError(
            InternalError(suberror: 1, data: [], instructionBytes: [0xf0, 0x48, 0x0f, 0xc7, 0x0e]))
        guard case .stop(.error(let m)) = handle(exit, io: io) else {
            Issue.record("expected a stop")
            return
        }
        #expect(m.contains("lock cmpxchg16b"))
        #expect(m.contains("f0 48 0f c7 0e"))
        #expect(m.contains("0xffffffff81234567"))
    }

    @Test func otherInternalErrorsStop() {
        let io = FakeCPUIO()
        guard
            case .stop(.error(let m)) = handle(
                .internalError(InternalError(suberror: 3, data: [], instructionBytes: nil)), io: io)
        else {
            Issue.record("expected a stop")
            return
        }
        #expect(m.contains("suberror 3"))
    }
}
