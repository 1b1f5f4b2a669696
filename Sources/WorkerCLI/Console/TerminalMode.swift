#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Puts a terminal in raw mode for an interactive serial console and restores it afterwards
/// (also when the worker exits through an error path: callers `defer { restore() }`).
public final class TerminalMode: Sendable {
    private let fd: Int32
    private let saved: termios?

    /// Switches `fd` to raw mode if it is a TTY; does nothing otherwise.
    public init(fd: Int32 = STDIN_FILENO) {
        self.fd = fd
        guard isatty(fd) == 1 else {
            saved = nil
            return
        }
        var original = termios()
        guard tcgetattr(fd, &original) == 0 else {
            saved = nil
            return
        }
        var raw = original
        cfmakeraw(&raw)
        // Keep output post-processing so the host terminal shows guest "\n" as a new line.
        raw.c_oflag |= tcflag_t(OPOST | ONLCR)
        tcsetattr(fd, TCSANOW, &raw)
        saved = original
    }

    /// True when the console is an interactive terminal in raw mode.
    public var isRaw: Bool { saved != nil }

    public func restore() {
        guard var original = saved else { return }
        tcsetattr(fd, TCSANOW, &original)
    }
}
