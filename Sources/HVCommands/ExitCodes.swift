import ArgumentParser
import HVClient

/// An error that knows its exit status (tart's `HasExitCode`).
public protocol HasExitCode: Error {
    var exitCode: Int32 { get }
}

extension HVClientError: HasExitCode {
    public var exitCode: Int32 {
        switch self {
        case .api(let status, let body):
            switch (status, body.error) {
            case (404, _): 3
            case (409, _): 4
            case (504, _), (_, "timeout"): 6
            default: 1
            }
        case .unreachable: 5
        case .protocolError: 1
        }
    }
}

/// Runs a command body, printing an `hv:` error and mapping it to its exit status.
func reporting(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as HVClientError {
        printError("hv: \(error)")
        throw ExitCode(error.exitCode)
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.standardError(string)
    }
}
