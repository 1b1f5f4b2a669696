import Testing

@testable import HyperV

@Suite struct CPUIDTests {
    let config: HyperVConfiguration

    init() throws { config = try HyperVConfiguration(vpCount: 4, tscFrequencyHz: 2_500_000_000) }

    func leaf(_ function: UInt32, in leaves: [CPUIDLeaf]) throws -> CPUIDLeaf {
        try #require(leaves.first { $0.function == function })
    }

    @Test func everyLeafUpToTheMaximumIsDefinedOnce() {
        let leaves = config.cpuidLeaves
        #expect(leaves.map(\.function) == Array(0x4000_0000...0x4000_000A))
        #expect(leaves.allSatisfy { $0.index == 0 })
    }

    @Test func vendorInterfaceAndMaxLeaf() throws {
        let l0 = try leaf(0x4000_0000, in: config.cpuidLeaves)
        #expect(l0.eax == 0x4000_000A)
        // Linux ms_hyperv_platform() requires 0x40000005 <= max <= 0x4000ffff.
        #expect((0x4000_0005...0x4000_FFFF).contains(l0.eax))
        #expect([l0.ebx, l0.ecx, l0.edx] == [0x7263_694D, 0x666F_736F, 0x7648_2074])
        var vendor: [UInt8] = []
        for r in [l0.ebx, l0.ecx, l0.edx] { for i in 0..<4 { vendor.append(UInt8(truncatingIfNeeded: r >> (8 * i))) } }
        #expect(String(decoding: vendor, as: UTF8.self) == "Microsoft Hv")
        #expect(try leaf(0x4000_0001, in: config.cpuidLeaves).eax == 0x3123_7648)  // "Hv#1"
    }

    @Test func featureSetIsTheMinimalHonestOne() throws {
        let f = try leaf(0x4000_0003, in: config.cpuidLeaves)
        #expect(f.eax == 0x8864)
        #expect(f.ebx == 0x30)
        #expect(f.ecx == 0)
        #expect(f.edx == 0x500)  // frequency MSRs + crash MSRs
        let low = HvPrivilegesLow(rawValue: f.eax)
        // Linux's detection needs hypercall + VP index.
        #expect(low.isSuperset(of: [.hypercallMSRs, .vpIndexMSR, .frequencyMSRs, .tscInvariant, .synicMSRs]))
        #expect(low.isDisjoint(with: [.timeRefCountMSR, .referenceTSC, .syntheticTimerMSRs, .apicAccessMSRs, .resetMSR]))
        let high = HvPrivilegesHigh(rawValue: f.ebx)
        #expect(high.isDisjoint(with: [.accessPartitionID, .cpuManagement, .extendedHypercalls, .isolation]))
        let hints = HvRecommendations(rawValue: try leaf(0x4000_0004, in: config.cpuidLeaves).eax)
        #expect(hints == [.deprecatingAutoEOI])
        #expect(hints.rawValue == 0x200)
        #expect(try leaf(0x4000_0004, in: config.cpuidLeaves).ebx == 0xFFFF_FFFF)
    }

    @Test func crashMSRsAreOptional() throws {
        let plain = try HyperVConfiguration(vpCount: 1, tscFrequencyHz: 1_000_000_000, offerCrashMSRs: false)
        #expect(try leaf(0x4000_0003, in: plain.cpuidLeaves).edx == 0x100)
    }

    @Test func implementationLimitsCarryTheVPCount() throws {
        let l5 = try leaf(0x4000_0005, in: config.cpuidLeaves)
        #expect(l5.eax == 4 && l5.ebx == 4)
        for f: UInt32 in 0x4000_0006...0x4000_000A {
            let l = try leaf(f, in: config.cpuidLeaves)
            #expect([l.eax, l.ebx, l.ecx, l.edx] == [0, 0, 0, 0])
        }
    }

    @Test func badConfigurationsAreRefused() {
        #expect(throws: HyperVConfiguration.Error.vpCountOutOfRange(0)) {
            try HyperVConfiguration(vpCount: 0, tscFrequencyHz: 1)
        }
        #expect(throws: HyperVConfiguration.Error.vpCountOutOfRange(5000)) {
            try HyperVConfiguration(vpCount: 5000, tscFrequencyHz: 1)
        }
        #expect(throws: HyperVConfiguration.Error.zeroFrequency) { try HyperVConfiguration(vpCount: 1, tscFrequencyHz: 0) }
    }
}
