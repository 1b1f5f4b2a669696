import Boot
import Chipset
import Dispatch
import Foundation
import GuestMemory
import KVM
import Synchronization
import VMM

/// Builds and boots the guest programs in Tests/TinyGuests (assembled at test time).
enum TinyGuest {
    static let sourceDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("TinyGuests")

    static let codeAddress: UInt64 = 0x10000
    static let memorySize: UInt64 = 2 << 20

    static func tool(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Why live guest tests cannot run here, or nil when they can.
    static let unavailableReason: String? = {
        if !KVMAvailability.isUsable { return KVMAvailability.reason }
        if tool("as") == nil || tool("objcopy") == nil { return "binutils (as, objcopy) not installed" }
        return nil
    }()

    static let usable: Bool = {
        if let reason = unavailableReason { print("VMMTests: skipping tiny-guest tests: \(reason)") }
        return unavailableReason == nil
    }()

    struct ToolError: Error, CustomStringConvertible {
        let description: String
    }

    static func run(_ tool: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw ToolError(description: "\(tool) \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }

    /// Assembles Tests/TinyGuests/<name>.S to flat binary bytes.
    static func assemble(_ name: String) throws -> [UInt8] {
        guard let asPath = tool("as"), let objcopy = tool("objcopy") else {
            throw ToolError(description: "no binutils")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tinyguest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let object = dir.appendingPathComponent("\(name).o").path
        let binary = dir.appendingPathComponent("\(name).bin").path
        try run(
            asPath,
            [
                "--64", "-I", sourceDirectory.path, "-o", object,
                sourceDirectory.appendingPathComponent("\(name).S").path,
            ])
        try run(objcopy, ["-O", "binary", "-j", ".text", object, binary])
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: binary)))
    }

    /// RAM with the program at `codeAddress`, a GDT at 0x500, 4-level page tables at 0x1000
    /// identity-mapping 0-1 GiB and 3-4 GiB (MMIO hole) with 2 MiB pages, stack top at 0x9000.
    static func memory(with code: [UInt8]) throws -> GuestMemory {
        guard let range = GuestAddressRange(start: GuestPhysicalAddress(0), length: memorySize) else {
            throw ToolError(description: "bad range")
        }
        let m = try GuestMemory.anonymous(regions: [range])
        try m.write(code, at: GuestPhysicalAddress(codeAddress))
        // GDT: null, 64-bit code (0x08), data (0x10).
        try m.store(UInt64(0), at: GuestPhysicalAddress(0x500))
        try m.store(UInt64(0x00af_9b00_0000_ffff), at: GuestPhysicalAddress(0x508))
        try m.store(UInt64(0x00cf_9300_0000_ffff), at: GuestPhysicalAddress(0x510))
        let present: UInt64 = 0x3, large: UInt64 = 0x83
        try m.store(UInt64(0x2000) | present, at: GuestPhysicalAddress(0x1000))  // PML4[0] -> PDPT
        try m.store(UInt64(0x3000) | present, at: GuestPhysicalAddress(0x2000))  // PDPT[0] -> PD 0-1 GiB
        try m.store(UInt64(0x4000) | present, at: GuestPhysicalAddress(0x2018))  // PDPT[3] -> PD 3-4 GiB
        for i in 0..<UInt64(512) {
            try m.store((i << 21) | large, at: GuestPhysicalAddress(0x3000 + i * 8))
            try m.store((0xc000_0000 + (i << 21)) | large, at: GuestPhysicalAddress(0x4000 + i * 8))
        }
        return m
    }

    static var longModeState: InitialCPUState {
        InitialCPUState(
            rip: codeAddress, rsp: 0x9000, rsi: 0,
            cr0: 0x8001_0033, cr3: 0x1000, cr4: 0x620, efer: 0x500,
            gdtBase: 0x500, gdtLimit: 23,
            code: .init(base: 0, limit: 0xfffff, selector: 0x08, type: 0xb, l: true, db: false),
            data: .init(base: 0, limit: 0xfffff, selector: 0x10, type: 0x3, l: false, db: true))
    }

    /// Runs `machine` to its end, stopping it after `seconds` so a broken guest or runtime fails
    /// the test (as `.stopRequested`) instead of hanging the suite.
    static func run(_ machine: Machine, _ io: MachineIO, seconds: Int = 30) throws -> StopReason {
        try machine.start(io)
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { [weak machine] in
            machine?.requestStop()
        }
        return machine.waitUntilStopped()
    }

    /// A machine running `program`, with the guest CPUID for this host.
    static func machine(_ program: String, vcpus: Int = 1) throws -> Machine {
        let code = try assemble(program)
        let kvm = try KVMSystem.open()
        let cpuid = HostCompatibility.resolve().guestCPUID(from: try kvm.supportedCPUID())
        return try Machine(
            MachineConfiguration(memory: try memory(with: code), vcpuCount: vcpus, boot: longModeState, cpuid: cpuid),
            system: kvm)
    }
}

/// Test ports 0xE0-0xE7: records every write, answers 0x5A on 0xE1, calls `onWrite`.
final class TestPorts: PortIODevice {
    let name = "testports"
    let writes = Mutex<[(port: UInt16, value: UInt64)]>([])
    let onWrite: @Sendable (UInt16, UInt64) -> Void

    init(onWrite: @escaping @Sendable (UInt16, UInt64) -> Void = { _, _ in }) { self.onWrite = onWrite }

    func ioRead(offset: UInt16, width: AccessWidth) -> UInt64 { offset == 1 ? 0x5a : width.allOnes }
    func ioWrite(offset: UInt16, width: AccessWidth, value: UInt64) {
        writes.withLock { $0.append((0xe0 + offset, value)) }
        onWrite(0xe0 + offset, value)
    }
    func values(at port: UInt16) -> [UInt64] { writes.withLock { $0.filter { $0.port == port }.map(\.value) } }
}

/// MMIO at 0xD0000000: reads 0xCAFEBABE, records writes.
final class TestMMIO: MMIODevice {
    let name = "testmmio"
    let writes = Mutex<[(offset: UInt64, value: UInt64)]>([])
    func mmioRead(offset: UInt64, width: AccessWidth) -> UInt64 { 0xcafe_babe }
    func mmioWrite(offset: UInt64, width: AccessWidth, value: UInt64) { writes.withLock { $0.append((offset, value)) } }
}

/// MSRs: 0x40000000 reads 0x1122334455667788, 0x40000001 accepts writes; the rest #GP.
final class TestMSRs: MSRHandler {
    let written = Mutex<[UInt32: UInt64]>([:])
    let reads = Mutex<[UInt32]>([])
    func readMSR(_ index: UInt32, vp: Int) -> UInt64? {
        reads.withLock { $0.append(index) }
        return index == 0x4000_0000 ? 0x1122_3344_5566_7788 : nil
    }
    func writeMSR(_ index: UInt32, value: UInt64, vp: Int) -> Bool {
        guard index == 0x4000_0001 else { return false }
        written.withLock { $0[index] = value }
        return true
    }
}

/// The register-aware hook on port 0xE4: RAX = RCX + RDX + R8 (a hypercall's shape).
final class SumHook: RegisterPortHook {
    func portWrite(_ port: IOPort, width: AccessWidth, value: UInt64, registers: inout GeneralRegisters, vp: Int) {
        registers.rax = registers.rcx &+ registers.rdx &+ registers.r8
    }
}

/// A device that powers the machine off when port 0xE6 is written.
func buses(_ ports: TestPorts, mmio device: TestMMIO? = nil) throws -> (PortIOBus, MMIOBus) {
    let pio = PortIOBus(name: "pio")
    try pio.register(ports, at: IOPort(0xe0), count: 8)
    let mmio = MMIOBus(name: "mmio")
    if let device { try mmio.register(device, at: 0xd000_0000, length: 0x1000) }
    return (pio, mmio)
}
