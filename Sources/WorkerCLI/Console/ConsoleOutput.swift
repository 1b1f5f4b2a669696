import Chipset
import Foundation

/// Guest serial output to standard output, and optionally to a log file.
struct ConsoleOutput: SerialOutput {
    let log: FileHandle?

    init(logPath: String?) {
        if let logPath, FileManager.default.createFile(atPath: logPath, contents: nil) {
            log = FileHandle(forWritingAtPath: logPath)
        } else {
            log = nil
        }
    }

    func write(_ bytes: [UInt8]) {
        let data = Data(bytes)
        FileHandle.standardOutput.write(data)
        log?.write(data)
    }
}
