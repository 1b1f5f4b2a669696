import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Shows progress of a long operation on standard error: a bar with rate and ETA on a
/// terminal, plain "label: N%" lines (every 10%) otherwise, so logs stay readable.
final class ProgressReporter {
    let label: String
    let isTerminal: Bool
    let start = ContinuousClock.now
    var lastDraw = ContinuousClock.now - .seconds(1)
    var lastPercent = -10
    var drew = false

    init(label: String) {
        self.label = label
        self.isTerminal = isatty(STDERR_FILENO) != 0
    }

    func update(_ done: UInt64, _ total: UInt64) {
        let percent = total == 0 ? 100 : Int(done * 100 / total)
        if isTerminal {
            let now = ContinuousClock.now
            guard now - lastDraw >= .milliseconds(100) || done == total else { return }
            lastDraw = now
            let elapsed = Double((now - start).components.attoseconds) / 1e18 + Double((now - start).components.seconds)
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let eta = rate > 0 ? Int(Double(total - done) / rate) : 0
            let width = 30
            let filled = total == 0 ? width : Int(Double(width) * Double(done) / Double(total))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let line = "\r\(label) [\(bar)] \(percent)%  \(ByteCount.format(UInt64(rate)))/s  ETA \(eta / 60):\(String(format: "%02d", eta % 60))"
            FileHandle.standardError.write(Data(line.utf8))
            drew = true
        } else if percent / 10 != lastPercent / 10 {
            lastPercent = percent
            FileHandle.standardError.write(Data("\(label): \(percent)%\n".utf8))
        }
    }

    func finish() {
        if isTerminal, drew { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
