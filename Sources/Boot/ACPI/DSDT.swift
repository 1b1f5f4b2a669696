/// The DSDT's AML: `\_S5`, and under `\_SB` the legacy devices of the platform layout (COM1,
/// RTC, i8042 keyboard), the optional VMBus device and any additional devices.
public enum DSDT {
    /// `Name (\_S5, Package () { 5, 5, 0, 0 })`: what ACPI poweroff writes as SLP_TYP.
    public static var s5: AMLTerm {
        let t = UInt64(ACPIPlatform.s5SleepType)
        return .name("\\_S5", .package([.integer(t), .integer(t), .integer(0), .integer(0)]))
    }

    /// COM1: 16550A at 0x3F8-0x3FF, IRQ 4.
    public static var com1: AMLTerm {
        .device(
            "COM1",
            [
                .name("_HID", .eisaID("PNP0501")),
                .name("_UID", .integer(1)),
                .name("_CRS", ResourceTemplate().io(minimum: 0x3F8, maximum: 0x3F8, alignment: 8, length: 8).irqNoFlags([4]).term),
            ])
    }

    /// CMOS RTC: 0x70-0x71, IRQ 8.
    public static var rtc: AMLTerm {
        .device(
            "RTC",
            [
                .name("_HID", .eisaID("PNP0B00")),
                .name("_CRS", ResourceTemplate().io(minimum: 0x70, maximum: 0x70, alignment: 1, length: 2).irqNoFlags([8]).term),
            ])
    }

    /// i8042 keyboard controller: data 0x60, command/status 0x64, IRQ 1.
    public static var keyboard: AMLTerm {
        .device(
            "KBD",
            [
                .name("_HID", .eisaID("PNP0303")),
                .name(
                    "_CRS",
                    ResourceTemplate()
                        .io(minimum: 0x60, maximum: 0x60, alignment: 1, length: 1)
                        .io(minimum: 0x64, maximum: 0x64, alignment: 1, length: 1)
                        .irqNoFlags([1]).term),
            ])
    }

    /// `\_SB.VMOD` (ACPI0004, with the VMBus MMIO ranges) holding `VMBS`, the device hv_vmbus
    /// binds to by `_HID "VMBus"` (protocol doc §7.1, after OpenVMM and QEMU). iasl rejects a
    /// 5-character `_HID` string when compiling ASL, but the AML is valid and it is the ID
    /// hv_vmbus matches (`vmbus_acpi_device_ids`).
    public static func vmbus(_ device: ACPIConfiguration.VMBusDevice) -> AMLTerm {
        var resources = ResourceTemplate()
        for range in device.mmioRanges {
            resources = resources.qwordMemory(base: range.base, length: range.length)
        }
        let sta: AMLName = "STA"
        let vmbs = AMLTerm.device(
            "VMBS",
            [
                .name(sta, .integer(0x0F)),
                .name("_HID", .string("VMBus")),
                .name("_UID", .integer(0)),
                .name("_DDN", .string("VMBUS")),
                .method("_DIS", [.and(.reference(sta), .integer(0x0D), .reference(sta))]),
                .method("_PS0", [.or(.reference(sta), .integer(0x0F), .reference(sta))]),
                .method("_STA", [.ret(.reference(sta))]),
                // A method, not OpenVMM's Name(_PS3, 0): ACPI requires _PS3 to be a method.
                .method("_PS3", []),
                .name("_CRS", ResourceTemplate().term),
            ])
        return .device(
            "VMOD",
            [
                .name("_HID", .string("ACPI0004")),
                .name("_UID", .integer(0)),
                .name("_CRS", resources.term),
                vmbs,
            ])
    }

    /// The whole DSDT body for `config`.
    public static func aml(for config: ACPIConfiguration) -> [UInt8] {
        var devices = [com1, rtc, keyboard]
        if let vmbus = config.vmbus { devices.append(Self.vmbus(vmbus)) }
        devices += config.additionalDevices
        return AMLTerm.scope("\\_SB", devices).bytes + s5.bytes
    }
}
