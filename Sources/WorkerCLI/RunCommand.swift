import ArgumentParser

// Placeholder: replaced by the run work.
public struct RunCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "run", abstract: "Not implemented yet.")
    public init() {}
    public func run() async throws { throw ValidationError("'run' is not implemented yet") }
}
