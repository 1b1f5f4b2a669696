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

/// `hv vm show`'s text form.
func describe(_ vm: VMInfo) -> String {
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
    return lines.joined(separator: "\n")
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
