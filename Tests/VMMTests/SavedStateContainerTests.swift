import Chipset
import Foundation
import GuestMemory
import KVM
import Testing

@testable import VMM

@Suite struct SavedStateContainerTests {
    func sample() -> SavedStateContainer {
        var c = SavedStateContainer()
        c.set(.configuration, Array("{\"cpus\":1}".utf8))
        c.set(.hyperV, [1, 2, 3, 4, 5])
        c.set(.ram, [UInt8](repeating: 7, count: 16))
        return c
    }

    @Test func roundTrip() throws {
        let bytes = sample().encoded()
        #expect(Array(bytes[0..<8]) == Array("SWHVSAVE".utf8))
        let decoded = try SavedStateContainer.decode(bytes)
        #expect(decoded == sample())
        #expect(decoded[.hyperV] == [1, 2, 3, 4, 5])
        #expect(decoded[.machine] == nil)
    }

    @Test func goldenHeader() {
        var c = SavedStateContainer()
        c.set(.hyperV, [0x61])
        // magic, version 1, 1 section, metadata 49 bytes; tag "HYPV", flags, length 1, CRC-32("a") = 0xe8b7be43.
        #expect(
            c.encoded() == Array("SWHVSAVE".utf8) + [1, 0, 0, 0, 1, 0, 0, 0, 49, 0, 0, 0, 0, 0, 0, 0]
                + Array("HYPV".utf8) + [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x43, 0xbe, 0xb7, 0xe8, 0, 0, 0, 0, 0x61])
    }

    @Test func corruptPayloadIsRefused() {
        var bytes = sample().encoded()
        bytes[bytes.count - 1] ^= 0xff
        #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(bytes) }
    }

    @Test func everyTruncationIsRefused() {
        let bytes = sample().encoded()
        for n in 0..<bytes.count {
            #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(Array(bytes[0..<n])) }
        }
    }

    @Test func wrongMagicAndVersionAreRefused() {
        var bytes = sample().encoded()
        bytes[0] = UInt8(ascii: "X")
        #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(bytes) }
        bytes = sample().encoded()
        bytes[8] = 2
        do {
            _ = try SavedStateContainer.decode(bytes)
            Issue.record("version 2 accepted")
        } catch {
            #expect(error.message.contains("version 2"))
        }
    }

    @Test func hostileLengthsAreRefused() {
        var bytes = sample().encoded()
        // A section length far past the metadata.
        for i in 0..<8 { bytes[24 + 8 + i] = 0xff }
        #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(bytes) }
        bytes = sample().encoded()
        bytes[12] = 0xff  // section count
        #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(bytes) }
        bytes = sample().encoded()
        for i in 0..<8 { bytes[16 + i] = 0xff }  // metadata length
        #expect(throws: SavedStateError.self) { try SavedStateContainer.decode(bytes) }
    }

    @Test func randomMutationsNeverCrash() {
        let original = sample().encoded()
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? SavedStateContainer.decode(bytes)
        }
    }

    @Test func fingerprintDifferencesNameWhatChanged() {
        let a = SavedStateFingerprint(memoryMiB: 128, cpus: 1, hyperV: false, devices: [])
        let b = SavedStateFingerprint(memoryMiB: 256, cpus: 2, hyperV: false, devices: ["disk x"])
        #expect(a.differences(from: a).isEmpty)
        let d = b.differences(from: a)
        #expect(d.count == 3)
        #expect(d[0].contains("256") && d[0].contains("128"))
    }
}

/// The whole file: typed sections plus a sparse RAM image.
@Suite struct SavedStateFileTests {
    final class NoLine: InterruptLine { func setLevel(_ asserted: Bool) {} }
    final class NoPlatform: PlatformControl { func requestStop(_ request: PlatformStopRequest) {} }
    final class NoOutput: SerialOutput { func write(_ bytes: [UInt8]) {} }

    func savedVM() -> SavedVM {
        let devices = PCPlatformDevices(
            guestRAMSize: 1 << 20, interruptLine: { _ in NoLine() }, platform: NoPlatform(), serialOutput: NoOutput())
        devices.com1.ioWrite(offset: 7, width: .byte, value: 0x5a)  // scratch register
        devices.com1.receive([0x41, 0x42])
        let vcpu = VCPUState(
            regs: [1, 2], sregs: [3], fpu: [4], xsave: nil, xcrs: nil, debugRegs: nil, lapic: [5], events: [6],
            mpState: 0, msrs: [MSRValue(index: 0x10, value: 99)])
        return SavedVM(
            fingerprint: SavedStateFingerprint(memoryMiB: 1, cpus: 1, hyperV: false, devices: []),
            machine: MachineState(
                vcpus: [vcpu], kernel: VMKernelState(irqchips: [[1], [2], [3]], pit: nil, clockNanoseconds: 12345)),
            platform: devices.captureState(), hyperV: nil)
    }

    @Test func writeThenOpenRestoresEverything() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("saved-\(UUID().uuidString)").path
        defer { unlink(path) }
        let memory = GuestMemory.heapBacked(size: 1 << 20)
        try memory.write([1, 2, 3], at: GuestPhysicalAddress(0x5000))
        try memory.store(UInt64(0xdead_beef), at: GuestPhysicalAddress(0xf_fff8))
        let vm = savedVM()
        let stats = try SavedStateFile.write(vm, memory: memory, to: path)
        #expect(stats.ramBytesStored == 2 * 4096)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))

        let reader = try SavedStateFile.open(path)
        #expect(reader.vm == vm)
        #expect(reader.vm.platform.com1.scr == 0x5a)
        #expect((reader.vm.platform.com1.rxFIFO + reader.vm.platform.com1.hostRX).map(\.byte) == [0x41, 0x42])  // FIFO off: 1 in the holding register
        let fresh = GuestMemory.heapBacked(size: 1 << 20)
        try fresh.fill(at: GuestPhysicalAddress(0x9000), count: 16, with: 0xee)  // a hole must come back as zero
        try reader.loadRAM(into: fresh)
        #expect(try fresh.read(at: GuestPhysicalAddress(0x5000), count: 3) == [1, 2, 3])
        #expect(try fresh.load(UInt64.self, at: GuestPhysicalAddress(0xf_fff8)) == 0xdead_beef)
        #expect(try fresh.read(at: GuestPhysicalAddress(0x9000), count: 16) == [UInt8](repeating: 0, count: 16))
        #expect(throws: SavedStateError.self) { try reader.loadRAM(into: GuestMemory.heapBacked(size: 2 << 20)) }
    }

    @Test func truncatedAndForeignFilesAreRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("saved-\(UUID().uuidString)").path
        defer { unlink(path) }
        try SavedStateFile.write(savedVM(), memory: GuestMemory.heapBacked(size: 1 << 20), to: path)
        #expect(truncate(path, 1 << 19) == 0)
        #expect(throws: SavedStateError.self) { try SavedStateFile.open(path) }
        #expect(truncate(path, 100) == 0)
        #expect(throws: SavedStateError.self) { try SavedStateFile.open(path) }
        try Data("hello, not a saved state".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: SavedStateError.self) { try SavedStateFile.open(path) }
        #expect(throws: SavedStateError.self) { try SavedStateFile.open(path + ".missing") }
    }
}
