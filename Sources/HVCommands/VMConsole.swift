import ArgumentParser
import Foundation
import HVClient

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `hv vm console NAME`: attaches this terminal to the VM's serial console (like `virsh console`).
/// Ctrl-] q detaches; the VM keeps running.
public struct VMConsole: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Attach to a running VM's serial console (Ctrl-] q detaches).",
        discussion: "The last 64 KiB of output is shown first. Without a terminal, input is relayed until end of file.")
    @OptionGroup var connection: Flags.Connection
    @Argument(help: "A VM name or id.", completion: vmNameCompletion) var vm: String
    @Option(help: "Detach after this many seconds (scripts).") var timeout: Double?
    public init() {}

    public func run() throws {
        try reporting {
            let console = try connection.client.openConsole(vm)
            let terminal = RawTerminal()
            defer { terminal.restore() }
            if terminal.isRaw {
                FileHandle.standardError.write(Data("hv: attached to \(vm); Ctrl-] q detaches\r\n".utf8))
            }
            let input = Thread {
                var buffer = [UInt8](repeating: 0, count: 256)
                var escape = ConsoleDetach()
                while true {
                    let n = Glibc.read(STDIN_FILENO, &buffer, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    let (out, detach) = escape.feed(buffer[0..<n])
                    if !out.isEmpty, (try? console.write(out)) == nil { return }
                    if detach {
                        console.close()
                        return
                    }
                }
                // End of input without a terminal: give the guest a moment to answer, then detach.
                if !terminal.isRaw {
                    Thread.sleep(forTimeInterval: 2)
                    console.close()
                }
            }
            input.start()
            if let timeout {
                let closer = Thread {
                    Thread.sleep(forTimeInterval: timeout)
                    console.close()
                }
                closer.start()
            }
            while let bytes = try? console.read(), !bytes.isEmpty {
                FileHandle.standardOutput.write(Data(bytes))
            }
            terminal.restore()
            if terminal.isRaw { FileHandle.standardError.write(Data("\r\nhv: detached from \(vm)\n".utf8)) }
        }
    }
}

/// Raw mode for an interactive console, restored on exit.
final class RawTerminal: Sendable {
    private let saved: termios?
    init() {
        guard isatty(STDIN_FILENO) == 1 else {
            saved = nil
            return
        }
        var original = termios()
        guard tcgetattr(STDIN_FILENO, &original) == 0 else {
            saved = nil
            return
        }
        var raw = original
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        saved = original
    }
    var isRaw: Bool { saved != nil }
    func restore() {
        guard var original = saved else { return }
        tcsetattr(STDIN_FILENO, TCSANOW, &original)
    }
}
