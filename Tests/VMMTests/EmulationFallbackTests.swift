import Testing

@testable import VMM

@Suite struct EmulationFallbackTests {
    @Test func emulatedInstructions() {
        #expect(EmulationFallback.decide([0xcc, 0x90]) == .emulate(length: 1, setFlags: 0, clearFlags: 0, inject: 3))
        #expect(EmulationFallback.decide([0x9b]) == .emulate(length: 1, setFlags: 0, clearFlags: 0, inject: nil))
        #expect(
            EmulationFallback.decide([0x0f, 0x01, 0xca])
                == .emulate(length: 3, setFlags: 0, clearFlags: EmulationFallback.rflagsAC, inject: nil))
        #expect(
            EmulationFallback.decide([0x0f, 0x01, 0xcb])
                == .emulate(length: 3, setFlags: EmulationFallback.rflagsAC, clearFlags: 0, inject: nil))
    }

    @Test(arguments: [
        ([0xf0, 0x48, 0x0f, 0xc7, 0x0e] as [UInt8], "lock cmpxchg16b"),
        ([0x0f, 0xc7, 0x0e], "cmpxchg8b"),
        ([0x48, 0x0f, 0xae, 0x2f], "xrstor64"),
        ([0x0f, 0xae, 0x2f], "xrstor"),
        ([0x0f, 0xae, 0x27], "xsave"),
        ([0x0f, 0xae, 0xe8], "lfence"),
        ([0xf3, 0x48, 0x0f, 0xb8, 0xc7], "popcnt"),
        ([0xf3, 0x0f, 0xbc, 0xc0], "tzcnt"),
        ([0x0f, 0x38, 0xf0, 0x07], "movbe"),
        ([0x66, 0x0f, 0x3a, 0x44, 0xc1, 0x00], "pclmulqdq"),
        ([0x66, 0x0f, 0x38, 0xdc, 0xc1], "aes"),
        ([0xc5, 0xfd, 0x6f, 0x07], "VEX-encoded (AVX) instruction"),
        ([0x0f, 0x01, 0xd1], "xsetbv"),
        ([0x0f, 0x01, 0xc1], "vmcall"),
        ([0x0f, 0xc7, 0xf0], "rdrand"),
        ([0x0f, 0x0b], "ud2"),
    ])
    func unsupportedAreNamed(bytes: [UInt8], name: String) {
        #expect(EmulationFallback.decide(bytes) == .unsupported(mnemonic: name))
    }

    @Test func unknownAndHostileInputs() {
        #expect(EmulationFallback.decide([]) == .unsupported(mnemonic: nil))
        #expect(EmulationFallback.decide([0x90]) == .unsupported(mnemonic: nil))
        #expect(EmulationFallback.decide([0x0f]) == .unsupported(mnemonic: nil))
        #expect(EmulationFallback.decide([0xf0, 0xf0, 0xf0, 0xf0, 0xf0]) == .unsupported(mnemonic: nil))
        #expect(EmulationFallback.decide([0x48]) == .unsupported(mnemonic: nil))
        #expect(EmulationFallback.decide([0x0f, 0xae]) == .unsupported(mnemonic: nil))
        // A prefixed int3 is not the plain form: not emulated.
        #expect(EmulationFallback.decide([0x66, 0xcc]) == .unsupported(mnemonic: "int3"))
    }
}
