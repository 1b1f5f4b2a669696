import Configuration
import Foundation

enum FileHandleWriter {
    static func standardError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// Prints values as pretty JSON (`--json`).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

extension Flags.Output {
    /// Reports one VM after an action: its JSON with `--json`, else "NAME: STATE".
    func report(_ info: VMInfo) throws {
        if json { try printJSON(info) } else { print("\(info.name): \(info.state)") }
    }
}

/// A plain text table: a header row and left-aligned columns.
public struct Table {
    public var header: [String]
    public var rows: [[String]] = []
    public init(_ header: [String]) { self.header = header }

    public func render() -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension VMInfo {
    static let tableHeader = ["NAME", "STATE", "CPUS", "MEMORY", "ID"]
    var tableRow: [String] { [name, state.rawValue, "\(configuration.cpus)", "\(configuration.memoryMiB) MiB", id] }
}

/// `hv vm show`'s text form; `disks` (from the disks resource) adds each image's format and size.
func describe(_ vm: VMInfo, disks: [VMDiskInfo]? = nil) -> String {
    var lines = [
        "Name:            \(vm.name)",
        "Id:              \(vm.id)",
        "State:           \(vm.state)" + (vm.stateReason.map { " (\($0))" } ?? ""),
        "Created:         \(vm.createdAt)",
        "Memory:          \(vm.configuration.memoryMiB) MiB",
        "vCPUs:           \(vm.configuration.cpus)",
        "Kernel:          \(vm.configuration.boot.kernel)",
    ]
    if let initrd = vm.configuration.boot.initrd { lines.append("Initrd:          \(initrd)") }
    lines.append("Command line:    \(vm.configuration.boot.cmdline)")
    lines.append("Hyper-V:         \(vm.configuration.hyperV ? "on" : "off")")
    lines.append("Start action:    \(vm.automaticStartAction.rawValue)")
    lines.append("Stop action:     \(vm.automaticStopAction.rawValue)")
    lines.append("Recovery action: \(vm.recoveryAction.rawValue)")
    if let pid = vm.workerPID { lines.append("Worker pid:      \(pid)") }
    if let notes = vm.configuration.notes { lines.append("Notes:           \(notes)") }
    let c = vm.configuration
    let diskRows = disks ?? zip(c.disks, c.assignedLUNs()).compactMap { disk, lun in
        lun.map { VMDiskInfo(lun: $0, path: disk.path, readOnly: disk.readOnly, format: "?", virtualSizeBytes: nil) }
    }
    lines.append(diskRows.isEmpty ? "Disks:           none" : "Disks:")
    if !diskRows.isEmpty { lines += diskTable(diskRows).render().split(separator: "\n").map { "  " + $0 } }
    let adapters = c.networkAdapters.enumerated().map { index, adapter in
        VMNetworkAdapterInfo(
            index: index, tap: adapter.tap,
            macAddress: adapter.effectiveMACAddress(vmName: c.name, index: index)?.description ?? adapter.macAddress ?? "?")
    }
    lines.append(adapters.isEmpty ? "Network adapters: none" : "Network adapters:")
    if !adapters.isEmpty { lines += adapterTable(adapters).render().split(separator: "\n").map { "  " + $0 } }
    return lines.joined(separator: "\n")
}

/// "512 B", "64 MiB", "1.5 GiB".
func byteCount(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    return value == value.rounded() ? "\(Int(value)) \(units[unit])" : String(format: "%.1f %@", value, units[unit])
}

func eventLine(_ e: VMEvent) -> String {
    "\(e.time)  \(e.vmName ?? "-")  \(e.kind)\(e.state.map { " [\($0)]" } ?? "")  \(e.message)"
}

/// One compact JSON object per line (`hv vm events --json`).
func printJSONLine(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try encoder.encode(value) + Data("\n".utf8))
}
