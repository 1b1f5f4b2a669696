import CKVM
import Testing

@testable import KVM

@Suite struct IoctlRequestTests {
    /// Values from the kernel documentation / a C probe on x86_64, not from our own headers.
    @Test func knownNumbers() {
        #expect(IoctlRequest.getAPIVersion.rawValue == 0xAE00)
        #expect(IoctlRequest.createVM.rawValue == 0xAE01)
        #expect(IoctlRequest.getMSRIndexList.rawValue == 0xC004_AE02)
        #expect(IoctlRequest.checkExtension.rawValue == 0xAE03)
        #expect(IoctlRequest.getVCPUMmapSize.rawValue == 0xAE04)
        #expect(IoctlRequest.createVCPU.rawValue == 0xAE41)
        #expect(IoctlRequest.setUserMemoryRegion.rawValue == 0x4020_AE46)
        #expect(IoctlRequest.setTSSAddress.rawValue == 0xAE47)
        #expect(IoctlRequest.createIRQChip.rawValue == 0xAE60)
        #expect(IoctlRequest.run.rawValue == 0xAE80)
        #expect(IoctlRequest.getRegs.rawValue == 0x8090_AE81)
        #expect(IoctlRequest.setRegs.rawValue == 0x4090_AE82)
    }

    /// The C re-exports agree with the asm-generic encoding computed from Swift's view of the
    /// structure sizes (so a wrong import of a struct would show here).
    @Test func encodingMatchesCValues() {
        func w<T>(_ nr: UInt8, _: T.Type) -> UInt {
            IoctlRequest.encode(direction: 1, type: 0xAE, number: nr, size: MemoryLayout<T>.size)
        }
        func r<T>(_ nr: UInt8, _: T.Type) -> UInt {
            IoctlRequest.encode(direction: 2, type: 0xAE, number: nr, size: MemoryLayout<T>.size)
        }
        func rw<T>(_ nr: UInt8, _: T.Type) -> UInt {
            IoctlRequest.encode(direction: 3, type: 0xAE, number: nr, size: MemoryLayout<T>.size)
        }
        func none(_ nr: UInt8) -> UInt { IoctlRequest.encode(direction: 0, type: 0xAE, number: nr, size: 0) }
        let expected: [(IoctlRequest, UInt)] = [
            (.getAPIVersion, none(0x00)), (.createVM, none(0x01)), (.checkExtension, none(0x03)),
            (.getVCPUMmapSize, none(0x04)), (.getSupportedCPUID, rw(0x05, kvm_cpuid2.self)),
            (.getMSRIndexList, rw(0x02, kvm_msr_list.self)),
            (.setUserMemoryRegion, w(0x46, kvm_userspace_memory_region.self)), (.createVCPU, none(0x41)),
            (.createIRQChip, none(0x60)), (.createPIT2, w(0x77, kvm_pit_config.self)), (.setTSSAddress, none(0x47)),
            (.setIdentityMapAddress, w(0x48, UInt64.self)), (.enableCap, w(0xa3, kvm_enable_cap.self)),
            (.setMSRFilter, w(0xc6, kvm_msr_filter.self)), (.signalMSI, w(0xa5, kvm_msi.self)),
            (.irqLine, w(0x61, kvm_irq_level.self)), (.irqfd, w(0x76, kvm_irqfd.self)),
            (.ioeventfd, w(0x79, kvm_ioeventfd.self)), (.run, none(0x80)),
            (.getRegs, r(0x81, kvm_regs.self)), (.setRegs, w(0x82, kvm_regs.self)),
            (.getSregs, r(0x83, kvm_sregs.self)), (.setSregs, w(0x84, kvm_sregs.self)),
            (.getMSRs, rw(0x88, kvm_msrs.self)), (.setMSRs, w(0x89, kvm_msrs.self)),
            (.setCPUID2, w(0x90, kvm_cpuid2.self)), (.getFPU, r(0x8c, kvm_fpu.self)), (.setFPU, w(0x8d, kvm_fpu.self)),
            (.getLAPIC, r(0x8e, kvm_lapic_state.self)), (.setLAPIC, w(0x8f, kvm_lapic_state.self)),
            (.getVCPUEvents, r(0x9f, kvm_vcpu_events.self)), (.setVCPUEvents, w(0xa0, kvm_vcpu_events.self)),
            (.getMPState, r(0x98, kvm_mp_state.self)), (.setMPState, w(0x99, kvm_mp_state.self)),
            (.getIRQChip, rw(0x62, kvm_irqchip.self)), (.setIRQChip, r(0x63, kvm_irqchip.self)),
            (.getPIT2, r(0x9f, kvm_pit_state2.self)), (.setPIT2, w(0xa0, kvm_pit_state2.self)),
            (.getClock, r(0x7c, kvm_clock_data.self)), (.setClock, w(0x7b, kvm_clock_data.self)),
            (.getXSAVE, r(0xa4, kvm_xsave.self)), (.setXSAVE, w(0xa5, kvm_xsave.self)),
            (.getXCRs, r(0xa6, kvm_xcrs.self)), (.setXCRs, w(0xa7, kvm_xcrs.self)),
            (.getDebugRegs, r(0xa1, kvm_debugregs.self)), (.setDebugRegs, w(0xa2, kvm_debugregs.self)),
        ]
        #expect(expected.count == IoctlRequest.all.count)
        for (request, value) in expected {
            #expect(request.rawValue == value, "\(request.name)")
        }
    }

    @Test func structLayouts() {
        #expect(MemoryLayout<kvm_run>.size == 2352)
        #expect(MemoryLayout<kvm_userspace_memory_region>.size == 32)
        #expect(MemoryLayout<kvm_cpuid_entry2>.stride == 40)
        #expect(MemoryLayout<kvm_msr_entry>.stride == 16)
    }

    @Test func errorNamesTheIoctl() {
        let e = KVMError("KVM_SET_TSS_ADDR", .invalidArgument, detail: "x")
        #expect(e.description.contains("KVM_SET_TSS_ADDR"))
    }
}
