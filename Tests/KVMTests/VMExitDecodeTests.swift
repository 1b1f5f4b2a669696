import CKVM
import Testing

@testable import KVM

/// Decoding synthetic `kvm_run` pages: the test plays the kernel.
@Suite struct VMExitDecodeTests {
    func page(_ reason: Int32, _ fill: (inout kvm_run) -> Void) -> KVMRunPage {
        let p = KVMRunPage.synthetic()
        var run = kvm_run()
        run.exit_reason = UInt32(bitPattern: reason)
        fill(&run)
        p.run = run
        return p
    }

    @Test func ioOutSingleByte() {
        let p = page(KVM_EXIT_IO) {
            $0.io.direction = UInt8(KVM_EXIT_IO_OUT)
            $0.io.size = 1
            $0.io.port = 0x3f8
            $0.io.count = 1
            $0.io.data_offset = 4096
        }
        p.write([0x4b], at: 4096)
        #expect(p.decodeExit() == .ioOut(port: 0x3f8, size: 1, values: [0x4b]))
    }

    @Test func ioOutStringWords() {
        let p = page(KVM_EXIT_IO) {
            $0.io.direction = UInt8(KVM_EXIT_IO_OUT)
            $0.io.size = 2
            $0.io.port = 0x1f0
            $0.io.count = 3
            $0.io.data_offset = 4096
        }
        p.write([0x01, 0x02, 0x03, 0x04, 0x05, 0x06], at: 4096)
        #expect(p.decodeExit() == .ioOut(port: 0x1f0, size: 2, values: [0x0201, 0x0403, 0x0605]))
    }

    @Test func ioInAndCompletion() {
        let p = page(KVM_EXIT_IO) {
            $0.io.direction = UInt8(KVM_EXIT_IO_IN)
            $0.io.size = 4
            $0.io.port = 0xcfc
            $0.io.count = 1
            $0.io.data_offset = 4096
        }
        #expect(p.decodeExit() == .ioIn(port: 0xcfc, size: 4, count: 1))
        p.complete(.ioIn([0x1234_5678_9abc]))
        #expect(p.read(at: 4096, count: 5) == [0xbc, 0x9a, 0x78, 0x56, 0x00])
    }

    @Test func ioDataOutsideMappingIsRejected() {
        let p = page(KVM_EXIT_IO) {
            $0.io.direction = UInt8(KVM_EXIT_IO_OUT)
            $0.io.size = 4
            $0.io.port = 0x80
            $0.io.count = 1000
            $0.io.data_offset = 3 * 4096 - 8
        }
        guard case .unknown(let reason, _) = p.decodeExit() else {
            Issue.record("expected a rejected exit")
            return
        }
        #expect(reason == UInt32(KVM_EXIT_IO))
        let bad = page(KVM_EXIT_IO) {
            $0.io.size = 3
            $0.io.count = 1
            $0.io.data_offset = 4096
        }
        if case .unknown = bad.decodeExit() {} else { Issue.record("width 3 accepted") }
    }

    @Test func mmioWriteAndRead() {
        let w = page(KVM_EXIT_MMIO) {
            $0.mmio.phys_addr = 0xfec0_0010
            $0.mmio.len = 4
            $0.mmio.is_write = 1
            $0.mmio.data = (0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff)
        }
        #expect(w.decodeExit() == .mmioWrite(address: 0xfec0_0010, size: 4, value: 0x1234_5678))
        let r = page(KVM_EXIT_MMIO) {
            $0.mmio.phys_addr = 0xd000_0000
            $0.mmio.len = 8
        }
        #expect(r.decodeExit() == .mmioRead(address: 0xd000_0000, size: 8))
        r.complete(.mmioRead(0x0102_0304_0506_0708))
        #expect(r.run.mmio.data.0 == 0x08 && r.run.mmio.data.7 == 0x01)
    }

    @Test func msrExitsAndCompletion() {
        let rd = page(KVM_EXIT_X86_RDMSR) {
            $0.msr.index = 0x4000_0001
            $0.msr.reason = UInt32(KVM_MSR_EXIT_REASON_FILTER)
        }
        #expect(rd.decodeExit() == .rdmsr(index: 0x4000_0001, reason: .filter))
        rd.complete(.msrRead(0xdead_beef))
        #expect(rd.run.msr.data == 0xdead_beef && rd.run.msr.error == 0)
        rd.complete(.msrRead(nil))
        #expect(rd.run.msr.error == 1)

        let wr = page(KVM_EXIT_X86_WRMSR) {
            $0.msr.index = 0x4000_0000
            $0.msr.data = 0x1_0000_0001
            $0.msr.reason = UInt32(KVM_MSR_EXIT_REASON_UNKNOWN)
        }
        #expect(wr.decodeExit() == .wrmsr(index: 0x4000_0000, value: 0x1_0000_0001, reason: .unknown))
        wr.complete(.msrWrite(accepted: false))
        #expect(wr.run.msr.error == 1)
    }

    @Test func simpleExits() {
        #expect(page(KVM_EXIT_HLT) { _ in }.decodeExit() == .hlt)
        #expect(page(KVM_EXIT_SHUTDOWN) { _ in }.decodeExit() == .shutdown)
        #expect(page(KVM_EXIT_INTR) { _ in }.decodeExit() == .interrupted)
        let fail = page(KVM_EXIT_FAIL_ENTRY) {
            $0.fail_entry.hardware_entry_failure_reason = 0x21
            $0.fail_entry.cpu = 1
        }
        #expect(fail.decodeExit() == .failEntry(reason: 0x21, cpu: 1))
        #expect(page(1234) { _ in }.decodeExit() == .unknown(reason: 1234, detail: ""))
    }

    @Test func emulationFailureCarriesInstructionBytes() {
        let p = page(KVM_EXIT_INTERNAL_ERROR) {
            $0.internal.suberror = UInt32(KVM_INTERNAL_ERROR_EMULATION)
            $0.internal.ndata = 4
        }
        // data[0] = flags (instruction bytes valid), then insn_size = 3 and "0f 01 ca" (clac).
        let unionOffset = 32
        p.write([1, 0, 0, 0, 0, 0, 0, 0], at: unionOffset + 8)
        p.write([3, 0x0f, 0x01, 0xca], at: unionOffset + 16)
        guard case .internalError(let e) = p.decodeExit() else {
            Issue.record("not an internal error")
            return
        }
        #expect(e.isEmulationFailure)
        #expect(e.instructionBytes == [0x0f, 0x01, 0xca])
        #expect(e.data.count == 4)
    }

    @Test func internalErrorWithoutBytes() {
        let p = page(KVM_EXIT_INTERNAL_ERROR) {
            $0.internal.suberror = 3
            $0.internal.ndata = 200  // hostile: clamped to 16
        }
        guard case .internalError(let e) = p.decodeExit() else {
            Issue.record("not an internal error")
            return
        }
        #expect(e.suberror == 3 && e.instructionBytes == nil && e.data.count == 16)
    }

    @Test func systemEvent() {
        let p = page(KVM_EXIT_SYSTEM_EVENT) {
            $0.system_event.type = UInt32(KVM_SYSTEM_EVENT_RESET)
            $0.system_event.ndata = 1
        }
        p.write([7, 0, 0, 0, 0, 0, 0, 0], at: 32 + 8)
        #expect(p.decodeExit() == .systemEvent(SystemEvent(kind: .reset, data: [7])))
    }
}
