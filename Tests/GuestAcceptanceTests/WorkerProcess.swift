import Foundation
import Synchronization

/// A running `hv-worker` with its console on pipes: the test reads the guest's serial output
/// and types into it, as a user at the console would.
final class WorkerProcess: Sendable {
    private let process: Process
    private let input: FileHandle
    private let output = OutputBuffer()
    private let log: FileHandle?

    init(arguments: [String], logPath: String? = nil) throws {
        let process = Process()
        process.executableURL = GuestEnvironment.worker
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        if let logPath {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            log = FileHandle(forWritingAtPath: logPath)
        } else {
            log = nil
        }
        self.process = process
        self.input = stdin.fileHandleForWriting
        let sink = output
        let logHandle = log
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            sink.bytes.withLock { $0.append(contentsOf: data) }
            logHandle?.write(data)
        }
        try process.run()
    }

    var text: String { output.bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Waits until the console shows `marker`; false on time-out or if the worker exits first.
    func waitFor(_ marker: String, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if text.contains(marker) { return true }
            if !process.isRunning { return text.contains(marker) }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    func type(_ bytes: [UInt8]) { input.write(Data(bytes)) }

    /// Waits for the worker to exit; nil on time-out (the worker is then killed).
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }
}

/// The console bytes read so far, shared between the pipe's reader and the test.
final class OutputBuffer: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
