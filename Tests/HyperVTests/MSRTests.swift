import GuestMemory
import Testing

@testable import HyperV

@Suite struct MSRTests {
    typealias M = SyntheticMSR

    /// The boot sequence of guest-requirements §3 (Linux 6.1 on the BSP, then hv_vmbus load),
    /// with every value checked.
    @Test func linux61BootSequence() throws {
        let f = try Fixture(vpCount: 1)
        let p = f.partition
        // 1. ms_hyperv_init_platform
        #expect(p.readMSR(M.apicFrequency.rawValue, vp: 0) == 1_000_000_000)
        #expect(p.writeMSR(M.tscInvariantControl.rawValue, value: 1, vp: 0))
        #expect(p.readMSR(M.tscInvariantControl.rawValue, vp: 0) == 1)
        // 2. tsc_early_init
        #expect(p.readMSR(M.tscFrequency.rawValue, vp: 0) == 2_500_000_000)
        // 3a. hv_common_init: crash capabilities
        #expect(p.readMSR(M.crashControl.rawValue, vp: 0) == 0xC000_0000_0000_0000)
        // 3b. hv_cpu_init: VP index, then the VP assist page (before GUEST_OS_ID)
        #expect(p.readMSR(M.vpIndex.rawValue, vp: 0) == 0)
        #expect(p.writeMSR(M.vpAssistPage.rawValue, value: 0x5_0000 | 1, vp: 0))
        #expect(p.readMSR(M.vpAssistPage.rawValue, vp: 0) == 0x5_0001)
        // 3c. guest OS id
        #expect(p.writeMSR(M.guestOSID.rawValue, value: Fixture.linuxGuestOSID, vp: 0))
        #expect(p.readMSR(M.guestOSID.rawValue, vp: 0) == Fixture.linuxGuestOSID)
        // 3d. hypercall page: RMW; the code must be in RAM when the WRMSR returns (R6).
        let hc = try #require(p.readMSR(M.hypercall.rawValue, vp: 0))
        #expect(hc == 0)
        #expect(p.writeMSR(M.hypercall.rawValue, value: hc | Fixture.hypercallPage | 1, vp: 0))
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.hypercallPage), count: 8) == [
            0xF3, 0x0F, 0x1E, 0xFA,  // endbr64
            0xE6, 0xEB,  // out 0xEB, al
            0xC3,  // ret
            0x00,  // untouched
        ])
        // 5. hv_acpi_init → hv_is_hyperv_initialized
        #expect(p.readMSR(M.hypercall.rawValue, vp: 0) == Fixture.hypercallPage | 1)
        #expect(p.isHypercallPageEnabled)
        // 6. hv_synic_enable_regs: RMW of SIMP, SIEFP, SINT2, SCONTROL
        #expect(p.readMSR(M.simp.rawValue, vp: 0) == 0)
        #expect(p.writeMSR(M.simp.rawValue, value: Fixture.simp(0) | 1, vp: 0))
        #expect(p.readMSR(M.siefp.rawValue, vp: 0) == 0)
        #expect(p.writeMSR(M.siefp.rawValue, value: Fixture.siefp(0) | 1, vp: 0))
        let sint2 = try #require(p.readMSR(M.sint0.rawValue + 2, vp: 0))
        #expect(sint2 == 0x1_0000)  // reset: masked
        let newSint = (sint2 & ~0xFF & ~(1 << 16) & ~(1 << 17)) | 0xF3  // vector, unmasked, no auto-EOI
        #expect(p.writeMSR(M.sint0.rawValue + 2, value: newSint, vp: 0))
        #expect(p.readMSR(M.sint0.rawValue + 2, vp: 0) == 0xF3)
        let scontrol = try #require(p.readMSR(M.scontrol.rawValue, vp: 0))
        #expect(scontrol == 1)
        #expect(p.writeMSR(M.scontrol.rawValue, value: scontrol | 1, vp: 0))
        // 7. runtime: EOM, TIME_REF_COUNT (read even though not offered)
        #expect(p.writeMSR(M.eom.rawValue, value: 0, vp: 0))
        #expect(p.readMSR(M.timeRefCount.rawValue, vp: 0) != nil)
        // 8. hyperv_cleanup: GUEST_OS_ID = 0, clear the enable bits (REFERENCE_TSC unimplemented)
        #expect(p.writeMSR(M.guestOSID.rawValue, value: 0, vp: 0))
        #expect(!p.isHypercallPageEnabled)
        let hc2 = try #require(p.readMSR(M.hypercall.rawValue, vp: 0))
        #expect(p.writeMSR(M.hypercall.rawValue, value: hc2 & ~1, vp: 0))
        let tsc = try #require(p.readMSR(M.referenceTSC.rawValue, vp: 0))
        #expect(tsc == 0)
        #expect(p.writeMSR(M.referenceTSC.rawValue, value: tsc & ~1, vp: 0))
        #expect(f.crashes.withLock { $0.isEmpty })
    }

    @Test func perVPRegistersAreSeparate() throws {
        let f = try Fixture(vpCount: 2)
        #expect(f.partition.readMSR(M.vpIndex.rawValue, vp: 1) == 1)
        f.enableSynIC(vp: 1)
        #expect(f.partition.readMSR(M.simp.rawValue, vp: 1) == Fixture.simp(1) | 1)
        #expect(f.partition.readMSR(M.simp.rawValue, vp: 0) == 0)
        #expect(f.partition.writeMSR(M.vpAssistPage.rawValue, value: 0x9001, vp: 1))
        #expect(f.partition.readMSR(M.vpAssistPage.rawValue, vp: 0) == 0)
        #expect(f.partition.readMSR(M.sversion.rawValue, vp: 1) == 1)
    }

    @Test func hypercallEnableIsIgnoredUntilTheGuestOSIDIsSet() throws {
        let f = try Fixture()
        #expect(f.partition.writeMSR(M.hypercall.rawValue, value: Fixture.hypercallPage | 1, vp: 0))
        #expect(f.partition.readMSR(M.hypercall.rawValue, vp: 0) == 0)
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.hypercallPage), count: 7) == [0, 0, 0, 0, 0, 0, 0])
    }

    @Test func hypercallPageIsRewrittenOnEveryEnable() throws {
        let f = try Fixture()
        f.enableHypercalls()
        try f.memory.fill(at: GuestPhysicalAddress(Fixture.hypercallPage), count: 7, with: 0x90)
        #expect(f.partition.writeMSR(M.hypercall.rawValue, value: Fixture.hypercallPage | 1, vp: 0))
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.hypercallPage), count: 7) == HypercallPage.code)
    }

    @Test func hypercallPageOutsideRAMFaults() throws {
        let f = try Fixture()
        _ = f.partition.writeMSR(M.guestOSID.rawValue, value: Fixture.linuxGuestOSID, vp: 0)
        #expect(!f.partition.writeMSR(M.hypercall.rawValue, value: 0xC000_0000 | 1, vp: 0))
        #expect(!f.partition.writeMSR(M.hypercall.rawValue, value: 0xFFFF_FFFF_FFFF_F001, vp: 0))
        #expect(f.partition.readMSR(M.hypercall.rawValue, vp: 0) == 0)
    }

    @Test func readOnlyAndForeignMSRs() throws {
        let f = try Fixture()
        let p = f.partition
        for msr in [M.vpIndex, .timeRefCount, .tscFrequency, .apicFrequency, .sversion] {
            #expect(!p.writeMSR(msr.rawValue, value: 1, vp: 0), "\(msr) is read-only")
        }
        #expect(p.readMSR(0x10, vp: 0) == nil)  // IA32_TSC: not ours
        #expect(!p.writeMSR(0x4000_0200, value: 0, vp: 0))
        #expect(p.readMSR(M.vpIndex.rawValue, vp: 2) == nil)
        #expect(p.readMSR(M.vpIndex.rawValue, vp: -1) == nil)
        #expect(!p.writeMSR(M.guestOSID.rawValue, value: 1, vp: 7))
    }

    @Test func unknownMSRsInTheRangeReadZeroAndAcceptWrites() throws {
        let f = try Fixture()
        for index: UInt32 in [0x4000_0010, 0x4000_00B0, 0x4000_00B1, 0x4000_0119, 0x4000_01FF] {
            #expect(f.partition.readMSR(index, vp: 0) == 0)
            #expect(f.partition.writeMSR(index, value: 0xDEAD, vp: 0))
            #expect(f.partition.readMSR(index, vp: 0) == 0)
        }
    }

    @Test func sintValidation() throws {
        let f = try Fixture()
        let sint3 = M.sint0.rawValue + 3
        #expect(!f.partition.writeMSR(sint3, value: 0x0F, vp: 0))  // unmasked exception vector
        #expect(f.partition.writeMSR(sint3, value: 0x1_000F, vp: 0))  // masked: allowed
        // Reserved bits read back as zero; auto-EOI and polling are kept.
        #expect(f.partition.writeMSR(sint3, value: 0xFFFF_FFFF_FFFF_FF30, vp: 0))
        #expect(f.partition.readMSR(sint3, vp: 0) == 0x7_0030)
        #expect(f.partition.readMSR(M.sint15.rawValue, vp: 0) == 0x1_0000)
    }

    @Test func overlayPagesOutsideRAMFaultAndNewPagesAreZeroed() throws {
        let f = try Fixture()
        #expect(!f.partition.writeMSR(M.simp.rawValue, value: 0x4000_0000 | 1, vp: 0))
        #expect(!f.partition.writeMSR(M.siefp.rawValue, value: 0xFFFF_FFFF_FFFF_F001, vp: 0))
        #expect(f.partition.readMSR(M.simp.rawValue, vp: 0) == 0)
        // Disabled with an address outside RAM is fine: nothing is mapped.
        #expect(f.partition.writeMSR(M.simp.rawValue, value: 0x4000_0000, vp: 0))
        try f.memory.fill(at: GuestPhysicalAddress(Fixture.simp(0)), count: 4096, with: 0xAA)
        #expect(f.partition.writeMSR(M.simp.rawValue, value: Fixture.simp(0) | 1, vp: 0))
        #expect(try f.memory.read(at: GuestPhysicalAddress(Fixture.simp(0)), count: 4096).allSatisfy { $0 == 0 })
    }

    @Test func timeReferenceCountFollowsTheGuestTSC() throws {
        let f = try Fixture(guestTSC: { vp in vp == 0 ? 2_500_000_000 : 3_750_000_000 })
        #expect(f.partition.readMSR(M.timeRefCount.rawValue, vp: 0) == 10_000_000)  // 1 s
        #expect(f.partition.readMSR(M.timeRefCount.rawValue, vp: 1) == 15_000_000)
        let huge = try Fixture(guestTSC: { _ in .max })
        #expect(huge.partition.readMSR(M.timeRefCount.rawValue, vp: 0) == UInt64.max / 250)
    }

    @Test func timeReferenceCountWithoutATSCSourceIsMonotonic() throws {
        let f = try Fixture()
        let a = try #require(f.partition.readMSR(M.timeRefCount.rawValue, vp: 0))
        let b = try #require(f.partition.readMSR(M.timeRefCount.rawValue, vp: 0))
        #expect(b >= a)
    }

    @Test func crashRegistersAreReported() throws {
        let f = try Fixture()
        let values: [UInt64] = [0x1, Fixture.linuxGuestOSID, 0xFFFF_FFFF_8100_0000, 0x2A, 0xFFFF_C900_0000_0F00]
        for (i, v) in values.enumerated() {
            #expect(f.partition.writeMSR(M.crashP0.rawValue + UInt32(i), value: v, vp: 1))
            #expect(f.partition.readMSR(M.crashP0.rawValue + UInt32(i), vp: 1) == v)
        }
        #expect(f.partition.writeMSR(M.crashControl.rawValue, value: 1 << 63, vp: 1))
        #expect(f.crashes.withLock { $0 } == [GuestCrashReport(vp: 1, parameters: values, message: nil)])
    }

    @Test func crashKernelLogPageIsCapturedAndBounded() throws {
        let f = try Fixture()
        let text = "Kernel panic - not syncing: VFS: Unable to mount root fs"
        try f.memory.write(Array(text.utf8), at: GuestPhysicalAddress(0x3_0000))
        let p = f.partition
        for (i, v) in [UInt64(0), 0, 0, 0x3_0000, UInt64(text.utf8.count)].enumerated() {
            _ = p.writeMSR(M.crashP0.rawValue + UInt32(i), value: v, vp: 0)
        }
        #expect(p.writeMSR(M.crashControl.rawValue, value: 0xC000_0000_0000_0000, vp: 0))
        // Hostile: a page outside RAM and a huge length.
        _ = p.writeMSR(M.crashP3.rawValue, value: 0xFFFF_FFFF_0000, vp: 0)
        _ = p.writeMSR(M.crashP4.rawValue, value: .max, vp: 0)
        #expect(p.writeMSR(M.crashControl.rawValue, value: 0xC000_0000_0000_0000, vp: 0))
        // A length over one page is capped to one page.
        try f.memory.fill(at: GuestPhysicalAddress(0x4_0000), count: 8192, with: UInt8(ascii: "x"))
        _ = p.writeMSR(M.crashP3.rawValue, value: 0x4_0000, vp: 0)
        #expect(p.writeMSR(M.crashControl.rawValue, value: 0xC000_0000_0000_0000, vp: 0))
        let reports = f.crashes.withLock { $0 }
        #expect(reports.count == 3)
        #expect(reports.first?.message == text)
        #expect(reports.dropFirst().first?.message?.contains("outside RAM") == true)
        #expect(reports.last?.message?.utf8.count == 4096)
        // CTL without CRASH_NOTIFY reports nothing.
        #expect(p.writeMSR(M.crashControl.rawValue, value: 0, vp: 0))
        #expect(f.crashes.withLock { $0.count } == 3)
    }

    @Test func crashMSRsNotOfferedAreUnknown() throws {
        let f = try Fixture(offerCrashMSRs: false)
        #expect(f.partition.readMSR(M.crashControl.rawValue, vp: 0) == 0)
        #expect(f.partition.writeMSR(M.crashControl.rawValue, value: 1 << 63, vp: 0))
        #expect(f.crashes.withLock { $0.isEmpty })
    }

    @Test func resetMSRAsksTheVMMToReset() throws {
        let f = try Fixture()
        #expect(f.partition.writeMSR(M.reset.rawValue, value: 0, vp: 0))
        #expect(f.resets.withLock { $0 } == 0)
        #expect(f.partition.writeMSR(M.reset.rawValue, value: 1, vp: 0))
        #expect(f.resets.withLock { $0 } == 1)
        #expect(f.partition.readMSR(M.reset.rawValue, vp: 0) == 0)
    }

    @Test func lockedHypercallMSRIgnoresWrites() throws {
        let f = try Fixture()
        _ = f.partition.writeMSR(M.guestOSID.rawValue, value: Fixture.linuxGuestOSID, vp: 0)
        #expect(f.partition.writeMSR(M.hypercall.rawValue, value: Fixture.hypercallPage | 0b11, vp: 0))
        #expect(f.partition.writeMSR(M.hypercall.rawValue, value: 0, vp: 0))
        #expect(f.partition.readMSR(M.hypercall.rawValue, vp: 0) == Fixture.hypercallPage | 0b11)
    }
}
