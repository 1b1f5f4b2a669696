import KVM
import Testing

@testable import VMM

@Suite struct HostCompatibilityTests {
    let supported: [CPUIDEntry] = [
        CPUIDEntry(function: 0, eax: 0xd, ebx: 0x6874_7541, ecx: 0x444d_4163, edx: 0x6974_6e65),
        CPUIDEntry(function: 1, eax: 0xa00f11, ebx: 0x0000_0800, ecx: 0x76d8_3203 | (1 << 13), edx: 0x178b_fbff),
        CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4b4d_564b, ecx: 0x564b_4d56, edx: 0x4d),
        CPUIDEntry(function: 0x4000_0001, eax: 0x01ff_ffff, ebx: 0, ecx: 0, edx: 0),
        CPUIDEntry(function: 0x8000_0000, eax: 0x8000_0021, ebx: 0, ecx: 0, edx: 0),
    ]

    @Test func detectsPVMWithoutVMXorSVM() {
        let pvm = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n"
        #expect(HostCompatibility.detect(cpuinfo: pvm).kind == .nestedPVM)
        let amd = "processor\t: 0\nflags\t\t: fpu vme svm npt\n"
        #expect(HostCompatibility.detect(cpuinfo: amd).kind == .hardware)
        let intel = "flags\t\t: fpu vmx ept\n"
        #expect(HostCompatibility.detect(cpuinfo: intel).kind == .hardware)
        // "vmx" only as part of another word does not count.
        #expect(HostCompatibility.detect(cpuinfo: "flags\t: fpu vmxfoo\n").kind == .nestedPVM)
    }

    @Test func modes() {
        #expect(HostCompatibility.resolve(.off).kind == .hardware)
        #expect(HostCompatibility.resolve(.pvm).kind == .nestedPVM)
        #expect(HostCompatibility.resolve(.auto, cpuinfoPath: "/nonexistent").kind == .hardware)
    }

    @Test func pvmCPUIDDropsKVMLeavesAndCX16() {
        let guest = HostCompatibility(kind: .nestedPVM).guestCPUID(from: supported)
        #expect(!guest.contains { $0.function >= 0x4000_0000 && $0.function < 0x5000_0000 })
        let leaf1 = guest.first { $0.function == 1 }
        #expect(leaf1.map { $0.ecx & HostCompatibility.cx16Bit } == 0)
        #expect(leaf1.map { $0.ecx & HostCompatibility.hypervisorBit } == HostCompatibility.hypervisorBit)
        #expect(guest.contains { $0.function == 0x8000_0000 })
    }

    @Test func hardwareCPUIDKeepsCX16ButDropsKVMSignature() {
        let guest = HostCompatibility(kind: .hardware).guestCPUID(from: supported)
        #expect(
            guest.first { $0.function == 1 }.map { $0.ecx & HostCompatibility.cx16Bit } == HostCompatibility.cx16Bit)
        #expect(!guest.contains { $0.function == 0x4000_0000 })
        #expect(HostCompatibility(kind: .hardware).kernelCommandLineAdditions.isEmpty)
    }

    @Test func pvmCommandLine() {
        let words = HostCompatibility(kind: .nestedPVM).kernelCommandLineAdditions
        #expect(words.first == "noxsave")
        #expect(
            words.last
                == "clearcpuid=129,137,140,147,148,150,151,153,156,157,158,291,293,296,306,307,317,308")
        #expect(!(words.last ?? "").contains("297"))
    }

    @Test func mergeReplacesSameLeaf() {
        let hv = [
            CPUIDEntry(function: 0x4000_0000, eax: 0x4000_0006, ebx: 0x7263_694d, ecx: 0x666f_736f, edx: 0x7648_2074)
        ]
        let base = HostCompatibility(kind: .nestedPVM).guestCPUID(from: supported)
        let merged = HostCompatibility.merging(hv, into: base)
        #expect(merged.filter { $0.function == 0x4000_0000 } == hv)
        let leaf1 = [CPUIDEntry(function: 1, eax: 1, ebx: 2, ecx: 3, edx: 4)]
        #expect(HostCompatibility.merging(leaf1, into: base).filter { $0.function == 1 } == leaf1)
    }

    @Test func perVCPUTopology() {
        let entries = Machine.cpuid(
            [
                CPUIDEntry(function: 1, eax: 0, ebx: 0xff00_0800, ecx: 0, edx: 0),
                CPUIDEntry(function: 0xb, index: 1, flags: 1, eax: 0, ebx: 0, ecx: 0, edx: 9),
            ], vcpu: 2, count: 4)
        #expect(entries[0].ebx == 0x0204_0800)
        #expect(entries[1].edx == 2)
    }
}
