import Foundation
import GuestMemory
import Testing

@testable import Boot

@Suite struct ACPITablesTests {
    func build(_ config: ACPIConfiguration = ACPIConfiguration(vcpuCount: 4)) throws -> ACPITables {
        try ACPITables.build(config: config)
    }

    func bytes(_ t: ACPITables, _ sig: String) throws -> [UInt8] { try #require(t.table(sig)).bytes }

    @Test func checksumsLengthsAndPointers() throws {
        let t = try build()
        #expect(t.rsdpAddress == GuestPhysicalAddress(0xE0000))
        for table in t.tables where table.signature != "RSD PTR " {
            #expect(table.bytes.reduce(UInt8(0), &+) == 0, "\(table.signature) checksum")
            #expect(table.bytes.u32(4) == UInt32(table.bytes.count), "\(table.signature) length")
            #expect(Array(table.bytes[0..<4]) == Array(table.signature.utf8))
            #expect(table.address.rawValue % 16 == 0)
            #expect(table.address.rawValue + UInt64(table.bytes.count) <= 0x100000)
        }
        let rsdp = try bytes(t, "RSD PTR ")
        #expect(rsdp.count == 36)
        #expect(rsdp[0..<20].reduce(UInt8(0), &+) == 0)
        #expect(rsdp.reduce(UInt8(0), &+) == 0)
        #expect(rsdp[15] == 2)
        #expect(rsdp.u32(20) == 36)
        let xsdt = try bytes(t, "XSDT")
        #expect(rsdp.u64(24) == t.table("XSDT")?.address.rawValue)
        #expect(xsdt.count == 36 + 16)
        #expect(xsdt.u64(36) == t.table("FACP")?.address.rawValue)
        #expect(xsdt.u64(44) == t.table("APIC")?.address.rawValue)
        // No overlaps.
        let sorted = t.tables.sorted { $0.address < $1.address }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            #expect(a.address.rawValue + UInt64(a.bytes.count) <= b.address.rawValue)
        }
    }

    @Test func fadtGoldenFields() throws {
        let t = try build()
        let f = try bytes(t, "FACP")
        let dsdt = try #require(t.table("DSDT")).address.rawValue
        #expect(f.count == 276)
        #expect(f[8] == 6)  // revision
        #expect(f.u32(36) == 0)  // FIRMWARE_CTRL
        #expect(f.u32(40) == UInt32(dsdt))
        #expect(f.u16(46) == 9)  // SCI_INT
        #expect(f.u32(48) == 0)  // SMI_CMD
        #expect(f.u32(56) == 0x600)  // PM1a_EVT_BLK
        #expect(f.u32(64) == 0x604)  // PM1a_CNT_BLK
        #expect(f.u32(76) == 0)  // PM_TMR_BLK
        #expect(f.u32(80) == 0)  // GPE0_BLK
        #expect(f[88] == 4 && f[89] == 2 && f[91] == 0)  // PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN
        #expect(f.u16(109) == 0x0003)  // IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042
        // WBINVD | PROC_C1 | PWR_BUTTON | SLP_BUTTON | RTC_S4 | RESET_REG_SUP | USE_PLATFORM_CLOCK
        #expect(f.u32(112) == 0x0000_84B5)
        #expect(f.u32(112) & (1 << 20) == 0)  // not HW_REDUCED_ACPI
        #expect(Array(f[116..<128]) == [1, 8, 0, 1, 0x08, 0x06, 0, 0, 0, 0, 0, 0])  // RESET_REG
        #expect(f[128] == 1)  // RESET_VALUE
        #expect(f[131] == 5)  // minor version
        #expect(f.u64(140) == dsdt)  // X_DSDT
        #expect(Array(f[148..<160]) == [1, 32, 0, 2, 0x00, 0x06, 0, 0, 0, 0, 0, 0])  // X_PM1a_EVT_BLK
        #expect(Array(f[172..<184]) == [1, 16, 0, 2, 0x04, 0x06, 0, 0, 0, 0, 0, 0])  // X_PM1a_CNT_BLK
        #expect(f[208..<220].allSatisfy { $0 == 0 })  // X_PM_TMR_BLK
    }

    @Test func madtGolden() throws {
        let m = try bytes(try build(ACPIConfiguration(vcpuCount: 3)), "APIC")
        #expect(m.u32(36) == 0xFEE0_0000)
        #expect(m.u32(40) == 1)  // PCAT_COMPAT
        var entries: [[UInt8]] = []
        var o = 44
        while o < m.count {
            entries.append(Array(m[o..<(o + Int(m[o + 1]))]))
            o += Int(m[o + 1])
        }
        #expect(o == m.count)
        #expect(
            entries == [
                [0, 8, 0, 0, 1, 0, 0, 0], [0, 8, 1, 1, 1, 0, 0, 0], [0, 8, 2, 2, 1, 0, 0, 0],
                [1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0],
                [2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
                [2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0],
                [4, 6, 0xFF, 0, 0, 1],
            ])
    }

    @Test func dsdtContainsTheDevices() throws {
        let d = try bytes(try build(), "DSDT")
        #expect(d[8] == 2)
        let aml = Array(d[36...])
        func contains(_ needle: [UInt8]) -> Bool {
            aml.count >= needle.count && (0...(aml.count - needle.count)).contains { Array(aml[$0..<($0 + needle.count)]) == needle }
        }
        #expect(contains(DSDT.s5.bytes))
        #expect(contains(DSDT.com1.bytes))
        #expect(contains(DSDT.rtc.bytes))
        #expect(contains(DSDT.keyboard.bytes))
        #expect(contains(AMLTerm.string("VMBus").bytes))
        let without = try bytes(try build(ACPIConfiguration(vcpuCount: 1, vmbus: nil)), "DSDT")
        #expect(without.count < d.count)
        let extra = AMLTerm.device("XTRA", [.name("_HID", .string("TEST0001"))])
        let with = try bytes(try build(ACPIConfiguration(vcpuCount: 1, additionalDevices: [extra])), "DSDT")
        #expect(with.count == d.count + extra.bytes.count)
    }

    @Test func rejectsBadConfigurations() {
        #expect(throws: ACPIError.invalidVCPUCount(0)) { try build(ACPIConfiguration(vcpuCount: 0)) }
        #expect(throws: ACPIError.invalidVCPUCount(256)) { try build(ACPIConfiguration(vcpuCount: 256)) }
        #expect(throws: ACPIError.invalidBaseAddress(0xE0008)) { try build(ACPIConfiguration(vcpuCount: 1, baseAddress: 0xE0008)) }
        let huge = AMLTerm.device("HUGE", [.name("_STR", .buffer([UInt8](repeating: 0, count: 200_000)))])
        #expect(throws: ACPIError.self) { try build(ACPIConfiguration(vcpuCount: 1, additionalDevices: [huge])) }
    }

    @Test func installsIntoGuestMemory() throws {
        let t = try build()
        let memory = GuestMemory.heapBacked(size: 2 << 20)
        #expect(try t.install(into: memory) == GuestPhysicalAddress(0xE0000))
        for table in t.tables {
            #expect(try memory.read(at: table.address, count: table.bytes.count) == table.bytes)
        }
        #expect(throws: GuestMemoryError.self) { try t.install(into: GuestMemory.heapBacked(size: 0xE0000)) }
    }

    @Test(.enabled(if: HostTool.available("iasl"), "iasl (acpica-tools) is not installed"))
    func iaslDisassemblesEveryTableWithoutErrors() throws {
        let dir = try Fixtures.tempDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let config = ACPIConfiguration(
            vcpuCount: 2, vmbus: .init(mmioRanges: [.init(base: 0xF800_0000, length: 0x400_0000)]))
        // iasl -d does not take a bare RSDP file; its checksums are checked above.
        for table in try build(config).tables where table.signature != "RSD PTR " {
            let name = table.signature == "RSD PTR " ? "rsdp" : table.signature.lowercased()
            let file = dir.appendingPathComponent("\(name).dat")
            try Data(table.bytes).write(to: file)
            let (status, log) = try HostTool.run("iasl", ["-d", file.path])
            #expect(status == 0, "iasl -d \(name): \(log)")
            #expect(!log.contains("Error") && !log.contains("Warning"), "iasl -d \(name): \(log)")
            let dsl = dir.appendingPathComponent("\(name).dsl")
            let text = (try? String(contentsOf: dsl, encoding: .utf8)) ?? ""
            #expect(!text.isEmpty, "no disassembly for \(name)")
            if name == "dsdt" {
                for expected in ["PNP0501", "PNP0B00", "PNP0303", "\"VMBus\"", "ACPI0004", "_S5_", "0x03F8", "IRQNoFlags"] {
                    #expect(text.contains(expected), "DSDT disassembly lacks \(expected)")
                }
                // The disassembly compiles back; the one error iasl raises is its rule that a
                // _HID string has 7 or 8 characters, which "VMBus" (what Linux matches) breaks.
                let (_, clog) = try HostTool.run("iasl", ["-f", "-p", dir.appendingPathComponent("recompiled").path, dsl.path])
                let errors = clog.split(separator: "\n").filter { $0.contains("Error ") && !$0.contains("Compilation") }
                #expect(errors.count == 1 && errors.allSatisfy { $0.contains("6033") }, "iasl recompile: \(clog)")
                #expect(clog.contains("1 Errors, 0 Warnings"), "iasl recompile: \(clog)")
            }
            if ProcessInfo.processInfo.environment["BOOT_TESTS_PRINT_DSL"] != nil { print(text) }
            if name == "facp" {
                #expect(text.contains("PM1A Event Block Address : 0000000000000600") || text.contains("00000600"))
            }
        }
    }
}
