import GuestMemory
import KVM
import Testing

/// Prints why the live tests are skipped, once, so a skip is never silent.
let kvmUsable: Bool = {
    if !KVMAvailability.isUsable { print("KVMTests: skipping live tests: \(KVMAvailability.reason)") }
    return KVMAvailability.isUsable
}()

@Suite(.enabled(if: kvmUsable, "needs a usable /dev/kvm")) struct LiveKVMTests {
    @Test func systemQueries() throws {
        let kvm = try KVMSystem.open()
        #expect(try kvm.apiVersion() == 12)
        #expect(try kvm.checkExtension(.irqchip) > 0)
        let cpuid = try kvm.supportedCPUID()
        #expect(cpuid.contains { $0.function == 0 })
        #expect(cpuid.contains { $0.function == 1 })
        #expect(try kvm.msrIndexList().contains(0x10))  // IA32_TSC
    }

    /// Real mode, no irqchip: `mov dx,0x3f8; mov al,'K'; out dx,al; in al,dx; hlt`.
    @Test func realModePortIOThenHalt() throws {
        let kvm = try KVMSystem.open()
        let vm = try kvm.createVM()
        let range = try #require(GuestAddressRange(start: .init(0), length: 0x10000))
        let memory = try GuestMemory.anonymous(regions: [range])
        try memory.write([0xba, 0xf8, 0x03, 0xb0, 0x4b, 0xee, 0xec, 0xf4], at: .init(0x1000))
        try vm.map(memory)
        try vm.setTSSAddress()
        let vcpu = try vm.createVCPU(id: 0)
        var s = try vcpu.specialRegisters()
        s.cs.base = 0
        s.cs.selector = 0
        try vcpu.setSpecialRegisters(s)
        var r = GeneralRegisters()
        r.rip = 0x1000
        try vcpu.setRegisters(r)

        #expect(try vcpu.run() == .ioOut(port: 0x3f8, size: 1, values: [0x4b]))
        #expect(try vcpu.run() == .ioIn(port: 0x3f8, size: 1, count: 1))
        vcpu.complete(.ioIn([0x5a]))
        #expect(try vcpu.run() == .hlt)
        #expect(try vcpu.registers().rax & 0xff == 0x5a)
    }
}
